#!/usr/bin/env bash
# Mesa lavapipe 25 (CPU Vulkan) from Debian bookworm-backports, unpacked under a cache folder without
# installing anything, so that Dawn (the `webgpu` npm package) gets an adapter with real arithmetic on a
# machine without a GPU. bookworm's own Mesa 22.3 lavapipe is refused by Dawn.
#
#   eval "$(scripts/lavapipe.sh)"     # stdout: two `export` lines; progress on stderr
#
# apt runs with a private sources list, lists and cache (-o options) and reads the system's dpkg status
# only to simulate `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`: the packages
# it would add or upgrade here (lavapipe, newer libdrm, and whatever this image lacks: LLVM, xcb, the
# Vulkan loader ...) are fetched with `apt-get download` and unpacked with `dpkg -x`. The system's apt
# state is not touched. A second run reuses the cache and only prints the exports.
# Exits non-zero with a one-line reason on any failure. LAVAPIPE_CACHE overrides the cache folder
# (default <repo>/.cache/lavapipe).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
C=${LAVAPIPE_CACHE:-$REPO/.cache/lavapipe}
R=$C/root
STAMP=$C/exports.sh

die() { echo "scripts/lavapipe.sh: $*" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || die "only x86_64 is handled (this is $(uname -m))"

# Second run: the exports of the first, if what they point at is still there.
if [ -s "$STAMP" ] && [ -f "$R/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" ] && [ -f "$C/lvp_icd.json" ]; then
  cat "$STAMP"; exit 0
fi

for t in apt-get dpkg dpkg-deb ldd; do command -v $t >/dev/null || die "$t not found (needs Debian bookworm)"; done
grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release || die "needs Debian bookworm (/etc/os-release says otherwise)"
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEY" ] || die "$KEY missing (package debian-archive-keyring)"

rm -rf "$R" "$C/debs" "$STAMP"
mkdir -p "$C/lists/partial" "$C/cache/archives/partial" "$C/debs" "$R"
M=http://deb.debian.org/debian
cat > "$C/sources.list" <<EOF
deb [signed-by=$KEY] $M bookworm main
deb [signed-by=$KEY] $M bookworm-updates main
deb [signed-by=$KEY] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$KEY] $M bookworm-backports main
EOF
: > "$C/preferences"
APT=(-o Dir::Etc::SourceList="$C/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::Etc::Preferences="$C/preferences" -o Dir::Etc::PreferencesParts=/nonexistent
  -o Dir::State::Lists="$C/lists" -o Dir::Cache="$C/cache" -o Debug::NoLocking=1
  -o APT::Get::List-Cleanup=0 -o Acquire::Retries=3 -o Acquire::http::Timeout=30
  -o Acquire::Languages=none -o APT::Sandbox::User=root)

log=$C/apt.log
apt-get "${APT[@]}" --error-on=any -q update > "$log" 2>&1 \
  || die "apt-get update (private lists, deb.debian.org) failed: $(grep -E '^(E|W):' "$log" | head -1)"

# What installing lavapipe 25 would add to this system, as name=version (Inst lines of a simulation).
apt-get "${APT[@]}" -s -q -t bookworm-backports --no-install-recommends install mesa-vulkan-drivers libvulkan1 \
  > "$C/simulate.log" 2>&1 || die "apt-get -s install mesa-vulkan-drivers failed: $(grep '^E:' "$C/simulate.log" | head -1)"
# Kept: those in the Depends closure of the two (the simulation also upgrades this image's own Mesa 22
# GL packages, which mesa 25 Breaks and lavapipe does not need).
apt-cache "${APT[@]}" -t bookworm-backports depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances mesa-vulkan-drivers libvulkan1 2>/dev/null | grep -E '^[a-z0-9]' | sort -u > "$C/closure.txt" \
  || die "apt-cache depends mesa-vulkan-drivers failed"
mapfile -t PKGS < <(sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*/\1 \3/p' "$C/simulate.log" \
  | awk 'NR == FNR { want[$1] = 1; next } want[$1] { print $1 "=" $2 }' "$C/closure.txt" -)
printf '%s\n' "${PKGS[@]}" | grep -q '^mesa-vulkan-drivers=2[5-9]\.' \
  || die "bookworm-backports offers no mesa-vulkan-drivers >= 25 (simulation: $(grep '^Inst mesa' "$C/simulate.log" || echo none))"

(cd "$C/debs" && apt-get "${APT[@]}" -q download "${PKGS[@]}") > "$C/download.log" 2>&1 \
  || die "apt-get download failed: $(grep '^E:' "$C/download.log" | head -1)"
for d in "$C"/debs/*.deb; do dpkg -x "$d" "$R" || die "dpkg -x $d failed"; done

LVP=$R/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
[ -f "$LVP" ] || die "libvulkan_lvp.so not in the unpacked mesa-vulkan-drivers"
LIBS=$(find "$R" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
missing=$(LD_LIBRARY_PATH=$LIBS ldd "$LVP" | awk '/not found/ {print $1}' | paste -sd' ')
[ -z "$missing" ] || die "libvulkan_lvp.so still lacks: $missing"
{ ldconfig -p | grep -q 'libvulkan\.so\.1 ' || ls "$R"/usr/lib/x86_64-linux-gnu/libvulkan.so.1 >/dev/null 2>&1; } \
  || die "no Vulkan loader (libvulkan.so.1) on the system or unpacked"

# The packaged ICD json names the library by its /usr path; ours points at the unpacked copy.
icd=$(ls "$R"/usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1) || true
[ -n "$icd" ] || die "lvp_icd*.json not in the unpacked mesa-vulkan-drivers"
api=$(sed -nE 's/.*"api_version": *"([^"]+)".*/\1/p' "$icd" | head -1)
printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "%s" }\n}\n' \
  "$LVP" "${api:-1.3.0}" > "$C/lvp_icd.json"

# LD_LIBRARY_PATH keeps whatever the caller has, appended when the line is evaluated.
{
  printf 'export VK_DRIVER_FILES=%q VK_ICD_FILENAMES=%q\n' "$C/lvp_icd.json" "$C/lvp_icd.json"
  printf 'export LD_LIBRARY_PATH=%q"${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$LIBS"
} > "$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
mesa=$(printf '%s\n' "${PKGS[@]}" | sed -n 's/^mesa-vulkan-drivers=//p')
echo "scripts/lavapipe.sh: lavapipe $mesa ready: ${#PKGS[@]} debs, $(du -sh "$C/debs" | cut -f1) downloaded, in $R" >&2
cat "$STAMP"
