#!/usr/bin/env bash
# Development aid (not part of npm test): merges small Llama, Mistral, Qwen2 and Qwen3 models into
# every output architecture with the built CLI (npm run build first) and checks each result with the
# transformers oracle beside the project (../shared/oracle: strict loading in transformers 5.18 and
# 4.57, logits equal to the dense model's when every expert is the base, bit-exact weights, format).
#   scripts/oracle-check-outputs.sh [all|q2|q3|ds]     (WORK=/tmp/oracle-check by default)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/oracle-lib.sh" /tmp/oracle-check
# case name, arch, base, experts (comma), shared (comma or -), layout, checks
run() {
  name=$1 arch=$2 base=$3 experts=$4 shared=$5 layout=$6 checks=$7
  echo "== $name"
  merge_case $name $arch $base $experts $shared $layout
  for c in ${checks//,/ }; do
    case $c in
      tf5) $R load-moe --model out/$name --ids "$IDS" > /dev/null 2>logs.$name.tf5; ok $? "transformers 5 strict load" ;;
      tf4) REF_TF=4 $R load-moe --model out/$name --ids "$IDS" > /dev/null 2>logs.$name.tf4; ok $? "transformers 4.57 strict load" ;;
      dense) $R moe-from-dense-check --dense $base --moe out/$name --ids "$IDS" --ablate-shared-expert > logs.$name.dense 2>&1; ok $? "logits = dense model's (shared expert ablated)" ;;
      dense5) $R moe-from-dense-check --dense $base --moe out/$name --ids "$IDS" > logs.$name.dense 2>&1; ok $? "logits = dense model's" ;;
      weights) sh=${shared%%,*}; [ "$sh" = "-" ] && sh=$base; $R moe-weights-check --moe out/$name --base $base --experts $experts --shared $sh > logs.$name.w 2>&1; ok $? "every tensor a bit-exact copy of its source" ;;
      ckpt) $R check-ckpt --model out/$name --no-model > logs.$name.ck 2>&1; ok $? "safetensors/index format" ;;
      ckpt4) REF_TF=4 $R check-ckpt --model out/$name > logs.$name.ck4 2>&1; ok $? "names and shapes = transformers 4.57's model" ;;
      verify) $CLI verify out/$name > logs.$name.v 2>&1; [ "$(grep -c problem logs.$name.v)" = 1 ] && grep -q "1 problem" logs.$name.v && grep -q "has no tokenizer" logs.$name.v; ok $? "moe-merge verify (all but the tokenizer the dense fixtures lack)" ;;
    esac
  done
}
L=$D/llama-rope-llama3
case "${1:-all}" in all|q2)
run q2-llama qwen $L/base $L/base,$L/base $L/base per-expert tf5,tf4,dense,ckpt4,verify
run q2-llama-mix qwen $L/base $L/expert-a,$L/expert-b,$L/base,$L/expert-a $L/expert-b per-expert weights,tf4
run q2-qwen2 qwen $WORK/qwen2/base $WORK/qwen2/base,$WORK/qwen2/base $WORK/qwen2/base per-expert tf5,tf4,dense,verify
run q2-qwen2-mix qwen $WORK/qwen2/base $WORK/qwen2/a,$WORK/qwen2/b $WORK/qwen2/b per-expert weights
run q2-mistral-window qwen $D/mistral-sliding/base $D/mistral-sliding/base,$D/mistral-sliding/base $D/mistral-sliding/base per-expert tf5,tf4,dense
run q2-tied-f16 qwen $D/llama-linear-tied/base $D/llama-linear-tied/base,$D/llama-linear-tied/base $D/llama-linear-tied/base per-expert tf5,tf4,dense
run q2-fused qwen $L/base $L/base,$L/base $L/base fused tf5,dense,verify
run q2-two-shared qwen $L/base $L/expert-a,$L/expert-b $L/expert-a,$L/expert-b per-expert tf5,tf4,verify
;; esac
case "${1:-all}" in all|q3)
run q3 qwen3 $WORK/qwen3/base $WORK/qwen3/base,$WORK/qwen3/base - per-expert tf5,tf4,dense5,ckpt4,verify
run q3-mix qwen3 $WORK/qwen3/base $WORK/qwen3/a,$WORK/qwen3/b - per-expert weights
run q3-bias-tied-yarn qwen3 $WORK/qwen3b/base $WORK/qwen3b/base,$WORK/qwen3b/base,$WORK/qwen3b/base,$WORK/qwen3b/base - per-expert tf5,tf4,dense5
run q3-fused qwen3 $WORK/qwen3/base $WORK/qwen3/base,$WORK/qwen3/base - fused tf5,dense5,verify
;; esac
case "${1:-all}" in all|ds)
run ds deepseek $L/base $L/expert-a,$L/expert-b - per-expert ckpt,weights,verify
run ds-shared deepseek $L/base $L/expert-a,$L/expert-b $L/base per-expert ckpt,weights,verify
run ds-bias deepseek $WORK/llamab/base $WORK/llamab/a,$WORK/llamab/base $WORK/llamab/a per-expert ckpt,weights
;; esac
echo "passed $pass, failed $fail"
