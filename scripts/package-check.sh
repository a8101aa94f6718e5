#!/usr/bin/env bash
# Builds the Debian package (build-deb/: Release, portable code, no tests, no
# source-tree lookup), checks its contents, installs it with apt-get, runs the
# installed calm and calm-studio from outside the source tree on the bundled
# model, and removes the package again. Run as root (or through sudo).
#   bash scripts/package-check.sh            # JOBS=N to limit the build's parallelism
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
JOBS=${JOBS:-$(nproc)}
start=$(date +%s)
step() { echo "== package-check [$(( $(date +%s) - start ))s]: $*"; }

bash scripts/install-deps.sh
# Validators for the desktop entry and the AppStream file (small; not needed to build).
tools=()
command -v appstreamcli >/dev/null || tools+=(appstream)
command -v desktop-file-validate >/dev/null || tools+=(desktop-file-utils)
if [ ${#tools[@]} -gt 0 ]; then $SUDO apt-get install -y -q --no-install-recommends "${tools[@]}"; fi

step "validating the desktop entry and the AppStream metainfo"
desktop-file-validate packaging/org.calmstudio.CalmStudio.desktop
appstreamcli validate --no-net packaging/org.calmstudio.CalmStudio.metainfo.xml

step "building the package in build-deb/"
cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCALM_NATIVE=OFF -DCALM_BUILD_TESTS=OFF -DCALM_SOURCE_RESOURCES=OFF
cmake --build build-deb -j "$JOBS"
rm -f build-deb/calm-studio_*.deb
(cd build-deb && cpack -G DEB)
debs=(build-deb/calm-studio_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { echo "package-check: expected one build-deb/calm-studio_*.deb" >&2; exit 1; }
DEB=${debs[0]}
ls -l "$DEB"

step "checking the package's control fields and contents"
dpkg-deb --info "$DEB"
control=$(dpkg-deb --field "$DEB")
for field in Package Version Architecture Maintainer Section Description Depends; do
  grep -q "^$field: ." <<<"$control" || { echo "package-check: control field $field missing" >&2; exit 1; }
done
grep -q "^Depends:.*libqt6widgets6" <<<"$control" || { echo "package-check: Depends lacks the Qt libraries (shlibdeps)" >&2; exit 1; }
grep -q "^Depends:.*libcpp-httplib" <<<"$control" || { echo "package-check: Depends lacks cpp-httplib, which calm serve links (shlibdeps)" >&2; exit 1; }
contents=$(dpkg-deb --contents "$DEB" | awk '{print $NF}')
expect=(./usr/bin/calm ./usr/bin/calm-studio
        ./usr/share/applications/org.calmstudio.CalmStudio.desktop
        ./usr/share/metainfo/org.calmstudio.CalmStudio.metainfo.xml
        ./usr/share/icons/hicolor/scalable/apps/calm-studio.svg
        ./usr/share/icons/hicolor/48x48/apps/calm-studio.png
        ./usr/share/icons/hicolor/128x128/apps/calm-studio.png
        ./usr/share/icons/hicolor/256x256/apps/calm-studio.png
        ./usr/share/man/man1/calm.1.gz ./usr/share/man/man1/calm-studio.1.gz)
# Every file of the bundled models (thresholds/ included) and data sets.
while IFS= read -r f; do expect+=("./usr/share/calm-studio/${f#resources/}"); done \
  < <(find resources/models resources/data -type f | sort)
for path in "${expect[@]}"; do
  grep -qxF "$path" <<<"$contents" || { echo "package-check: $path is not in the package" >&2; exit 1; }
done
echo "all ${#expect[@]} expected files are in the package"

step "installing the package"
WORK=$(mktemp -d /tmp/calm-package-check.XXXXXX)
cleanup() {
  set +e
  step "removing the package"
  $SUDO apt-get remove -y -q calm-studio >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cp "$DEB" "$WORK/"
$SUDO apt-get install -y -q "$WORK/$(basename "$DEB")"

# From now on nothing may come from the source tree: run elsewhere, without
# CALM_DATA_DIR, and check the binaries carry no path into it.
cd "$WORK"
unset CALM_DATA_DIR
if grep -qF "$REPO/resources" /usr/bin/calm /usr/bin/calm-studio; then
  echo "package-check: the installed programs refer to $REPO/resources (configure with -DCALM_SOURCE_RESOURCES=OFF)" >&2
  exit 1
fi

step "calm info"
info=$(calm info)
echo "$info"
grep -q "(/usr/share/calm-studio/models/kjv2web)" <<<"$info" || { echo "package-check: calm info did not use the installed kjv2web" >&2; exit 1; }

step "calm generate"
text=$(calm generate --prompt "And God said, Let there be light: and there was light." --lambda 0.6 --max-new-tokens 24)
echo "$text"
[ -n "$text" ] || { echo "package-check: calm generate printed nothing" >&2; exit 1; }
# Without --lambda, the installed model's certified thresholds are found and named
# (with the default 64 new tokens: the schedule's N is part of what they certify).
# (Captured first: grep -q stopping early would SIGPIPE calm, a failure under pipefail.)
said=$(calm generate --prompt "And God said" 2>&1 >/dev/null)
grep -q "certified by the model's bundled calibration" <<<"$said" \
  || { echo "package-check: calm generate did not use the installed bundled thresholds: $said" >&2; exit 1; }
# The installed test set is found by name (eval defaults to it).
calm calibrate --limit 8 --grid-step 0.25 --max-new-tokens 16 --delta 0.25 --threads 2 --out "$WORK/t.json" >/dev/null
evaluated=$(calm eval --thresholds "$WORK/t.json" --limit 8 --threads 2)
grep -q "/usr/share/calm-studio/data/kjv2web/test.jsonl" <<<"$evaluated" \
  || { echo "package-check: calm eval did not use the installed test set" >&2; exit 1; }

step "calm-studio --screenshot (offscreen)"
QT_QPA_PLATFORM=offscreen calm-studio --screenshot "$WORK/studio.png" --example 0 --lambda 0.6 --size 1200x800
[ -s "$WORK/studio.png" ] || { echo "package-check: no screenshot written" >&2; exit 1; }
[ "$(head -c 8 "$WORK/studio.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
  || { echo "package-check: $WORK/studio.png is not a PNG" >&2; exit 1; }
ls -l "$WORK/studio.png"

step "passed"
