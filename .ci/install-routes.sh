#!/usr/bin/env bash
# Install routes a lab actually takes, each in its own venv, run by .ci/run after `make test`:
#
#   oldest   the oldest supported pair: llamafactory==0.9.4 + lmms-eval==0.7 (everything else resolved by pip
#            within our ranges and theirs; no constraints file)
#   latest   the unconstrained latest resolve: `pip install vsfa-plugins[test]` with no pins at all
#
# In each: `vsfa doctor` (versions in the tested range, registration active), the upstream contract tests,
# one tiny `llamafactory-cli train` from a folder written by `vsfa configs export`, one tiny `lmms-eval` run
# (tests/test_install_routes.py). The plugin is installed from a wheel built from this checkout, so these
# runs use the wheel's packaged configs and tasks, not the checkout's.
#
# Torch: a lab brings its own torch build; so do these venvs. Each route venv sees the torch / torchvision /
# torchaudio / triton / nvidia-* packages of the project venv (built by `make test` just before) through a
# read-only path entry (a folder of symlinks), so pip treats them as installed and nothing of several GB is
# downloaded or unpacked again. Anything else comes from PyPI through pip's cache (~/.cache/pip, kept).
#
# Usage: .ci/install-routes.sh [oldest] [latest]   (default: both). Exit status non-zero if any route fails.
# Times of each phase are printed and written to $ROUTES_DIR/<route>/timings.txt.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAIN_VENV=${VSFA_VENV:-$HOME/.cache/vsfa-plugins/venv}
ROUTES_DIR=${VSFA_ROUTES_DIR:-$HOME/.cache/vsfa-plugins/routes}
PYTHON=${PYTHON:-python3}
ROUTES=("$@")
[ ${#ROUTES[@]} -eq 0 ] && ROUTES=(oldest latest)

# the oldest supported pair (keep in step with pyproject.toml's lower bounds)
OLDEST_PINS=("llamafactory==0.9.4" "lmms-eval==0.7")

log() { echo "[install-routes] $*" >&2; }
now() { date +%s; }

if [ ! -x "$MAIN_VENV/bin/python" ]; then
  log "FAIL: project venv $MAIN_VENV is missing (run make test first: it provides the torch build reused here)"
  exit 1
fi
MAIN_SITE=$("$MAIN_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# 1. the torch layer: symlinks to the project venv's torch build and its CUDA runtime packages
layer="$ROUTES_DIR/torch-layer"
rm -rf "$layer" && mkdir -p "$layer"
shopt -s nullglob
n=0
for entry in "$MAIN_SITE"/{torch,torchgen,functorch,torchvision,torchvision.libs,torchaudio,triton,nvidia,cuda}; do
  [ -e "$entry" ] && ln -s "$entry" "$layer/" && n=$((n + 1))
done
for entry in "$MAIN_SITE"/{torch,torchvision,torchaudio,triton,nvidia_*,cuda_bindings,cuda_pathfinder,cuda_toolkit}-*.dist-info; do
  ln -s "$entry" "$layer/" && n=$((n + 1))
done
shopt -u nullglob
if [ ! -e "$layer/torch" ]; then
  log "FAIL: no torch in $MAIN_SITE to share with the route venvs"; exit 1
fi
log "torch layer: $n entries from $MAIN_SITE ($("$MAIN_VENV/bin/python" -c 'import importlib.metadata as m; print("torch", m.version("torch"))'))"

# 2. the wheel, built once from this checkout
dist="$ROUTES_DIR/dist"
rm -rf "$dist" && mkdir -p "$dist"
t0=$(now)
if ! "$MAIN_VENV/bin/python" -m pip wheel --no-deps -q -w "$dist" "$ROOT"; then
  log "FAIL: building the wheel"; exit 1
fi
wheel=$(ls "$dist"/vsfa_plugins-*.whl)
log "wheel: $wheel ($(( $(now) - t0 )) s)"

run_route() {
  local route=$1 venv="$ROUTES_DIR/$1" t start
  local -a pins=()
  case "$route" in
    oldest) pins=("${OLDEST_PINS[@]}") ;;
    latest) pins=() ;;
    *) log "unknown route $route"; return 2 ;;
  esac
  start=$(now)
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" || return 1
  local site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$layer" > "$site/zz_lab_torch_build.pth"
  : > "$venv/timings.txt"
  t=$(now)
  local before=""
  if [ ${#pins[@]} -gt 0 ]; then
    # a lab's environment first (its own LLaMA-Factory / lmms-eval), then `pip install vsfa-plugins` into it,
    # unpinned: the plugin must keep the lab's versions, not upgrade them
    log "$route: the lab's env: pip install ${pins[*]}"
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" \
         2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); then
      log "$route: FAIL: pip install ${pins[*]}"; return 1
    fi
    before=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE '^(llamafactory|lmms.eval)==')
  fi
  log "$route: pip install ${wheel##*/}[test]"
  # (pip's notes about this machine's empty local index folders are noise: filtered)
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "${wheel}[test]" \
       2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); then
    log "$route: FAIL: pip install"; return 1
  fi
  if [ -n "$before" ]; then
    local after
    after=$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE '^(llamafactory|lmms.eval)==')
    if [ "$before" != "$after" ]; then
      log "$route: FAIL: installing the plugin changed the lab's versions: $(echo $before) -> $(echo $after)"
      return 1
    fi
    log "$route: the lab's versions kept: $(echo $after)"
  fi
  echo "install $(( $(now) - t ))" >> "$venv/timings.txt"
  "$venv/bin/python" -m pip list --format=freeze 2>/dev/null \
    | grep -iE '^(llamafactory|lmms.eval|transformers|torch|peft|datasets|accelerate|filelock|trl|deepspeed)==' \
    | tr '\n' ' ' >&2; echo >&2
  # the route must have kept the shared torch build (a newer torch in the venv means pip replaced it)
  if [ -d "$site/torch" ]; then
    log "$route: FAIL: pip installed its own torch into the route venv instead of keeping the lab's build"
    return 1
  fi

  t=$(now)
  # the console scripts of this venv first; the tests run from a temp dir so the checkout's vsfa_plugins
  # is not importable (the wheel's is what runs)
  local work; work=$(mktemp -d)
  cp -r "$ROOT/tests" "$work/tests" && cp "$ROOT/pyproject.toml" "$work/"  # markers, pytest options
  # VSFA_CACHE_DIR per route: the tiny test models are built by the route's own transformers, as a lab's would
  # be (tiny.py writes config.json for 4.57 and 5.x alike, but a LLaVA saved by 5.x names its vision-tower
  # weights in a way 4.57 does not map back)
  (cd "$work" && PATH="$venv/bin:$PATH" VSFA_INSTALL_ROUTE="$route" VSFA_CACHE_DIR="$venv/cache" \
     "$venv/bin/python" -m pytest -q -p no:cacheprovider -o addopts="-ra" --rootdir "$work" \
     tests/test_install_routes.py tests/test_upstream_contract.py tests/test_lmms_upstream_contract.py)
  local rc=$?
  rm -rf "$work"
  echo "tests $(( $(now) - t ))" >> "$venv/timings.txt"
  echo "total $(( $(now) - start ))" >> "$venv/timings.txt"
  log "$route: $( tr '\n' ' ' < "$venv/timings.txt")(seconds)"
  [ $rc -eq 0 ] || log "$route: FAIL: tests exit $rc"
  return $rc
}

status=0
for route in "${ROUTES[@]}"; do
  run_route "$route" || status=1
done
[ $status -eq 0 ] && log "all routes passed: ${ROUTES[*]}" || log "FAILED (see above)"
exit $status
