#!/usr/bin/env bash
# Throughput of `vit classify --workers 2` against 2 `vit queue work --workers 1` on the same inputs, back to
# back, ROUNDS times: test/photos linked COPIES times into a temporary folder, a throw-away redis-server.
# Usage: scripts/queue-throughput.sh MODEL [COPIES=32] [ROUNDS=3] [BATCH=8] [CHUNK=16]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/queue-throughput.sh MODEL [COPIES] [ROUNDS] [BATCH]}
copies=${2:-32}; rounds=${3:-3}; batch=${4:-8}; chunk=${5:-16}
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/in" "$tmp/redis"
for i in $(seq 1 "$copies"); do
  find "$PWD/test/photos" -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' -o -name '*.gif' -o -name '*.avif' -o -name '*.tiff' \) |
    while read -r f; do ln -s "$f" "$tmp/in/$i-$(basename "$f")"; done
done
n=$(ls "$tmp/in" | wc -l)
port=$(node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")
redis-server --port "$port" --dir "$tmp/redis" --save '' --appendonly no >/dev/null &
url=redis://127.0.0.1:$port
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
vit="node dist/cli/vit.js"
echo "inputs: $n files; model $model; batch $batch; chunk $chunk; $(nproc) cores"
for r in $(seq 1 "$rounds"); do
  t0=$(date +%s.%N)
  $vit classify "$tmp/in" --model "$model" --workers 2 --batch-size "$batch" --format jsonl --output "$tmp/classify.jsonl" 2>/dev/null || true
  t1=$(date +%s.%N)
  # Cold: the workers start (model load, pool) when the job is submitted, as classify does.
  $vit queue work --redis "$url" --model "$model" --workers 1 --batch-size "$batch" 2>"$tmp/w1.log" & w1=$!
  $vit queue work --redis "$url" --model "$model" --workers 1 --batch-size "$batch" 2>"$tmp/w2.log" & w2=$!
  $vit queue submit "$tmp/in" --redis "$url" --name "cold-$r" --chunk "$chunk" >/dev/null 2>&1
  $vit queue results --redis "$url" --name "cold-$r" --no-progress >"$tmp/cold.jsonl" 2>/dev/null || true
  t2=$(date +%s.%N)
  # Warm: the same two workers, already running, take a second job.
  $vit queue submit "$tmp/in" --redis "$url" --name "warm-$r" --chunk "$chunk" >/dev/null 2>&1
  $vit queue results --redis "$url" --name "warm-$r" --no-progress >"$tmp/warm.jsonl" 2>/dev/null || true
  t3=$(date +%s.%N)
  kill -TERM $w1 $w2; wait $w1 $w2 || true
  for f in classify cold warm; do [ "$(wc -l <"$tmp/$f.jsonl")" = "$n" ] || { echo "$f: $(wc -l <"$tmp/$f.jsonl") records, expected $n" >&2; exit 1; }; done
  node -e "const [n,a,b,c,d]=process.argv.slice(1).map(Number);const f=(s)=>(n/s).toFixed(1);
    console.log('round '+$r+': classify --workers 2 '+f(b-a)+' img/s ('+(b-a).toFixed(1)+' s); queue 2x1 cold '+f(c-b)+' img/s ('+(c-b).toFixed(1)+' s); warm '+f(d-c)+' img/s ('+(d-c).toFixed(1)+' s)')" "$n" "$t0" "$t1" "$t2" "$t3"
done
