#!/usr/bin/env bash
# Every figure the closing notes and the model card quote, in one run:
#   bash benchmarks/figures.sh OUT_DIR [CHECKPOINT]
# (one thread for torch everywhere, so figures from a busy machine stay comparable)
set -euo pipefail
out=${1:-figures}; ckpt=${2:-avsep_mobile/checkpoints/mobile.pt}
mkdir -p "$out"
export OMP_NUM_THREADS=1
for p in tiny mobile base; do avsep info --preset "$p" --json > "$out/info_$p.json"; done
[ -f "$out/eval_2spk.json" ] || avsep eval --checkpoint "$ckpt" --count 50 --json > "$out/eval_2spk.json"
[ -f "$out/eval_3spk.json" ] || avsep eval --checkpoint "$ckpt" --count 20 --speakers 3 --json > "$out/eval_3spk.json"
for k in 1 4; do
  for prec in fp32 int8; do
    /usr/bin/time -f "%e" -o "$out/time_android_${prec}_k$k.txt" \
      avsep export android --checkpoint "$ckpt" --precision "$prec" --chunk-hops "$k" --out "$out/dist/android_${prec}_k$k" --json > "$out/export_android_${prec}_k$k.json"
    avsep bench "$out/dist/android_${prec}_k$k" --threads 1 --json > "$out/bench_android_${prec}_k$k.json"
  done
done
for prec in fp32 int8; do
  /usr/bin/time -f "%e" -o "$out/time_onnx_$prec.txt" \
    avsep export onnx --checkpoint "$ckpt" --precision "$prec" --out "$out/dist/onnx_$prec" --json > "$out/export_onnx_$prec.json"
  avsep bench "$out/dist/onnx_$prec" --threads 1 --json > "$out/bench_onnx_$prec.json"
done
for prec in fp16 int8; do
  /usr/bin/time -f "%e" -o "$out/time_ios_$prec.txt" \
    avsep export ios --checkpoint "$ckpt" --precision "$prec" --out "$out/dist/ios_$prec" --json > "$out/export_ios_$prec.json"
done
avsep export ios --checkpoint "$ckpt" --int8-scheme weights --out "$out/dist/ios_int8_weights" --json > "$out/export_ios_int8_weights.json"
for b in android_int8_k1 ios_int8; do python3 benchmarks/int8_drift.py "$out/dist/$b" > "$out/drift_$b.json"; done
du -sb "$out"/dist/*/* | grep -v test_vectors > "$out/sizes.txt"
echo "figures in $out"
