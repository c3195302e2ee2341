"""MegEngine's ``core.tensor`` package path; holds the ``megbrain_graph`` alias module."""
