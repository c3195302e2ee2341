#!/usr/bin/env bash
# Install the real-MegEngine oracle (MegEngine 1.13.0, Python 3.10) into <repo>/.oracle.
#
# Idempotent: does nothing when .oracle already imports megengine 1.13.0 and
# megenginelite.  MegEngine 1.13 ships wheels for CPython <= 3.10 only; it needs
# numpy < 2 (with numpy 2, `import megengine` fails with "_ARRAY_API not found").
# The megengine wheel is ~0.9 GB (about 2 GB installed); expect ~1-2 minutes on a
# fast link.  Override the interpreter with ORACLE_BASE_PYTHON, the target with
# ORACLE_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORACLE_DIR="${ORACLE_DIR:-$REPO/.oracle}"
BASE_PYTHON="${ORACLE_BASE_PYTHON:-$HOME/.pyenv/versions/3.10.13/bin/python}"
CHECK='import megengine, megenginelite, numpy; assert megengine.__version__ == "1.13.0"; assert int(numpy.__version__.split(".")[0]) < 2'

if [ -x "$ORACLE_DIR/bin/python" ] && "$ORACLE_DIR/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "oracle already installed: $ORACLE_DIR"
    exit 0
fi

if [ ! -x "$BASE_PYTHON" ]; then
    BASE_PYTHON="$(command -v python3.10 || true)"
fi
if [ -z "$BASE_PYTHON" ] || ! "$BASE_PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 10)'; then
    echo "need a CPython 3.10 interpreter (set ORACLE_BASE_PYTHON)" >&2
    exit 1
fi

[ -x "$ORACLE_DIR/bin/python" ] || "$BASE_PYTHON" -m venv "$ORACLE_DIR"
"$ORACLE_DIR/bin/pip" install megengine==1.13.0
"$ORACLE_DIR/bin/pip" install "numpy<2" "opencv-python==4.10.0.84"
"$ORACLE_DIR/bin/python" -c "$CHECK"
echo "oracle installed: $ORACLE_DIR"
