#!/usr/bin/env bash
# Install the web pages' third-party assets from the npm registry (versions pinned by package-lock.json) and
# copy the files the product serves into api/static/vendor/ (gitignored: built, never committed by hand).
# Run by `make assets` (and so by `make demo`, `make serve`, `make test`); nothing is fetched at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../api/static/vendor"
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
nm="$here/node_modules"
rm -rf "$out.tmp" && mkdir -p "$out.tmp"/{htmx,bpmn-js,swagger-ui,fonts/files}
cp "$nm/htmx.org/dist/htmx.min.js" "$nm/htmx.org/LICENSE" "$out.tmp/htmx/"
cp "$nm/bpmn-js/dist/bpmn-viewer.production.min.js" "$nm/bpmn-js/LICENSE" "$out.tmp/bpmn-js/"
cp -r "$nm/bpmn-js/dist/assets/diagram-js.css" "$nm/bpmn-js/dist/assets/bpmn-js.css" "$nm/bpmn-js/dist/assets/bpmn-font" "$out.tmp/bpmn-js/"
cp "$nm/swagger-ui-dist/swagger-ui-bundle.js" "$nm/swagger-ui-dist/swagger-ui.css" "$nm/swagger-ui-dist/LICENSE" \
   "$out.tmp/swagger-ui/"
# Noto Sans SC (SIL Open Font License): the 400 and 700 weights as woff2, split by unicode-range so a page
# loads only the slices of the characters it shows; the CSS keeps only the woff2 sources.
font="$nm/@fontsource/noto-sans-sc"
cp "$font/LICENSE" "$out.tmp/fonts/"
for weight in 400 700; do
  cp "$font"/files/noto-sans-sc-*-"$weight"-normal.woff2 "$out.tmp/fonts/files/"
  sed -E "s#, url\(\./files/[^)]*\.woff\) format\('woff'\)##" "$font/$weight.css" > "$out.tmp/fonts/noto-sans-sc-$weight.css"
done
rm -rf "$out" && mv "$out.tmp" "$out"
touch "$out/.built"
echo "web assets ready in api/static/vendor/ ($(du -sh "$out" | cut -f1))"
