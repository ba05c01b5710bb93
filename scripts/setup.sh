#!/usr/bin/env bash
# Create .venv with hypergen and everything its tests need. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch and torchvision first, pinned for this machine (the library itself does not pin them): with the local CPU
# build of torch 2.13.0 and its torchvision in place, nothing below can pull a newer CUDA torch.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0" "torchvision==0.28.0"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[all]"

# torchvision 0.28.0's PyPI wheel is a CUDA build; on the CPU torch its import fails ("torchvision::nms does not
# exist"). Where it does, a start-up hook (hypergen/compat/torchvision_startup.py, run from a .pth file) prepares torch
# on the first `import torchvision`, so that users' code, lightning, timm and transformers import it unchanged.
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$SITE/hypergen-torchvision.pth"
if ! .venv/bin/python -c 'import torchvision' >/dev/null 2>&1; then
    echo 'import importlib.util as _u, os as _o, runpy as _r; _s = _u.find_spec("hypergen"); _p = _s and _o.path.join(_o.path.dirname(_s.origin), "compat", "torchvision_startup.py"); _p and _o.path.exists(_p) and _r.run_path(_p)' \
        > "$SITE/hypergen-torchvision.pth"
    .venv/bin/python -c 'import torchvision' || { echo "setup.sh: torchvision still fails to import" >&2; exit 1; }
fi

# Task data from Debian packages, installed with one apt-get when missing:
# - Fashion-MNIST, the default task data, is dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist);
#   skipped when it is there or $HYPERGEN_FASHION_MNIST_ROOT points at a copy.
# - GCIDE, the default text of data=text, is dict-gcide (/usr/share/dictd/gcide.dict.dz); skipped when it is there or
#   $HYPERGEN_TEXT_ROOT is set (to a text file or folder of your own).
FASHION_MNIST_DIR=/usr/share/datasets/fashion-mnist
GCIDE_FILE=/usr/share/dictd/gcide.dict.dz
install_debian_data() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    fi
    if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
        echo "setup.sh: task data is missing (Debian packages: $*) and cannot be installed here: that needs" \
             "apt-get and root or sudo. Install the package(s) as root, or set HYPERGEN_FASHION_MNIST_ROOT to a" \
             "folder holding the Fashion-MNIST IDX files / HYPERGEN_TEXT_ROOT to a text file or folder, then" \
             "re-run." >&2
        exit 1
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}
missing_data_packages() {
    if [ ! -e "$FASHION_MNIST_DIR/train-images-idx3-ubyte.gz" ] && [ ! -d "${HYPERGEN_FASHION_MNIST_ROOT:-/nonexistent}" ]; then
        echo dataset-fashion-mnist
    fi
    if [ ! -e "$GCIDE_FILE" ] && [ -z "${HYPERGEN_TEXT_ROOT:-}" ]; then
        echo dict-gcide
    fi
}
MISSING_DATA=$(missing_data_packages)
if [ -n "$MISSING_DATA" ]; then
    # shellcheck disable=SC2086  # one word per package
    install_debian_data $MISSING_DATA
fi
