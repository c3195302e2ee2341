"""Command-line tools, MegEngine's: ``load_and_run`` (run, time and check a model) and
``dump_with_testcase`` (pack a model with inputs and expected outputs).

Both are console scripts and ``python -m`` modules::

    dump_with_testcase model.mge -o model.mgbtest -d "data:cat.jpg" -d "#rand(0,255)"
    load_and_run model.mgbtest --iter 20 --warmup-iter 2
"""
