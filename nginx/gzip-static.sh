#!/bin/sh
# Copies the static files to where nginx serves them from, each text file with
# a gzipped twin beside it, so that nginx (gzip_static) sends a browser's first
# visit its CSS and JavaScript without compressing them on every request.
#
# DUKAAN_STATIC_SOURCE  the static/ folder of the release (read only)
# DUKAAN_STATIC_ROOT    the folder nginx serves static/ from; its static/ is replaced
#
# Run by scripts/stack, and by the nginx image at start (/docker-entrypoint.d/).
# Plain POSIX sh: the nginx image has no bash.
set -eu

source=${DUKAAN_STATIC_SOURCE:?set DUKAAN_STATIC_SOURCE}
target=${DUKAAN_STATIC_ROOT:?set DUKAAN_STATIC_ROOT}/static

mkdir -p "$DUKAAN_STATIC_ROOT"
rm -rf "$target.new"
cp -R "$source/." "$target.new"
find "$target.new" -type f \( -name '*.css' -o -name '*.js' -o -name '*.svg' -o -name '*.html' \) \
  -exec sh -c 'for file do gzip -9 -n -c "$file" >"$file.gz"; done' sh {} +
# Swap the new copy in whole: a request never sees half of it.
rm -rf "$target.old"
if [ -d "$target" ]; then mv "$target" "$target.old"; fi
mv "$target.new" "$target"
rm -rf "$target.old"
