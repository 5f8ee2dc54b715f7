#!/usr/bin/env bash
# Development aid (not part of npm test): merges small dense models into every output architecture in
# both expert layouts, extracts experts again with the built CLI (npm run build first), and checks each
# dense result with the transformers oracle beside the project (../shared/oracle): strict loading in
# transformers 5.18 and 4.57 (names and shapes of the dense class), and hidden states / logits equal to
# the original dense model's where the extracted expert is that model.
#   scripts/oracle-check-extract.sh            (WORK=/tmp/oracle-extract by default)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/oracle-lib.sh" /tmp/oracle-extract
# case name, arch, base, experts (comma), shared (comma or -), layout, expert to extract, extract options, checks
run() {
  name=$1 arch=$2 base=$3 experts=$4 shared=$5 layout=$6 expert=$7 opts=$8 checks=$9
  echo "== $name (expert $expert $opts)"
  rm -rf out/$name-x
  merge_case $name $arch $base $experts $shared $layout
  $CLI extract out/$name --expert $expert $opts -o out/$name-x --quiet > logs.$name.x 2>&1; ok $? "extract"
  X=out/$name-x
  for c in ${checks//,/ }; do
    case $c in
      tf5) $R hidden --model $X --ids "$IDS" --out $name.x5.json > /dev/null 2>logs.$name.tf5; ok $? "transformers 5 strict load and run" ;;
      tf4) REF_TF=4 $R hidden --model $X --ids "$IDS" > /dev/null 2>logs.$name.tf4; ok $? "transformers 4.57 strict load and run" ;;
      ckpt4) REF_TF=4 $R check-ckpt --model $X > logs.$name.ck4 2>&1; ok $? "format; names and shapes = transformers 4.57's dense model" ;;
      same) $R hidden --model $base --ids "$IDS" --out $name.base.json > /dev/null 2>&1 && $R compare $name.x5.json $name.base.json --atol 0 --rtol 0 > logs.$name.cmp 2>&1; ok $? "hidden states and logits = the original's, exactly" ;;
      verify) $CLI verify $X > logs.$name.v 2>&1; [ $? = 0 ] || { grep -q "1 problem" logs.$name.v && grep -q "has no tokenizer" logs.$name.v; }; ok $? "moe-merge verify (all but the tokenizer the dense fixtures lack)" ;;
    esac
  done
}
L=$D/llama-rope-llama3
run mixtral mixtral $L/base $L/expert-a,$L/base,$L/expert-b - per-expert 1 "" tf5,tf4,ckpt4,same,verify
run mixtral-fused mixtral $L/base $L/expert-a,$L/base,$L/expert-b - fused 1 "" tf5,tf4,same,verify
run mixtral-a mixtral $L/base $L/expert-a,$L/base - per-expert 0 "" tf5,tf4,ckpt4
run mixtral-window mixtral $D/mistral-sliding/base $D/mistral-sliding/base,$D/mistral-sliding/base - per-expert 1 "" tf5,tf4,ckpt4,same
run qwen2 qwen $WORK/qwen2/base $WORK/qwen2/a,$WORK/qwen2/base $WORK/qwen2/a per-expert 1 "" tf5,tf4,ckpt4,same
run qwen2-fused qwen $WORK/qwen2/base $WORK/qwen2/a,$WORK/qwen2/base $WORK/qwen2/a fused 1 "" tf5,tf4,same
run qwen3 qwen3 $WORK/qwen3b/base $WORK/qwen3b/a,$WORK/qwen3b/base - per-expert 1 "" tf5,tf4,ckpt4,same
run qwen3-fused qwen3 $WORK/qwen3b/base $WORK/qwen3b/a,$WORK/qwen3b/base - fused 1 "" tf5,tf4,same
run deepseek deepseek $WORK/llamab/base $WORK/llamab/a,$WORK/llamab/base $WORK/llamab/a per-expert 1 "" tf5,tf4,ckpt4,same
run deepseek-shared deepseek $WORK/llamab/base $WORK/llamab/a,$WORK/llamab/base $WORK/llamab/a per-expert 0 --shared-expert tf5,tf4,ckpt4
echo "passed $pass, failed $fail"
