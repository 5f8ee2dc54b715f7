#!/usr/bin/env bash
# Development aid (not part of npm test): edits small MoEs with experts taken from them (`expert: N`,
# docs/edit.md) with the built CLI (npm run build first) and checks the results with the transformers
# oracle beside the project (../shared/oracle): strict loading of the edited MoE in transformers 5.18
# (and 4.57 for the per-expert layout), moe-merge verify, and a one-expert MoE (experts_per_token 1)
# computing exactly what the extracted dense model of that expert computes.
# DeepSeek MoE has no modeling code in transformers (Hub remote code, unreachable here): its outputs get
# the format check only (check-ckpt --no-model).
#   scripts/oracle-check-edit.sh            (WORK=/tmp/oracle-edit by default; ONLY=<case> runs one edit case)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/oracle-lib.sh" /tmp/oracle-edit
# edit_case name source-moe dense-expert layout shared(-: none; kept: the base MoE's; or a dense model) remote(- or remote: no transformers code)
edit_case() {
  name=$1 moe=$WORK/out/$2 dense=$3 layout=$4 shared=$5 remote=$6
  [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ] && return
  echo "== $name (from $2, output $layout)"
  rm -rf out/$name out/$name-drop out/$name-x
  {
    echo "base_model: $moe"; echo "gate_mode: random"; echo "experts:"
    echo "  - source_model: $moe"; echo "    expert: 1"
    echo "  - source_model: $moe"; echo "    expert: 0"
    echo "  - source_model: $dense"
    if [ "$shared" != "-" ] && [ "$shared" != kept ]; then echo "shared_experts:"; echo "  - source_model: $shared"; fi
  } > recipes/$name.yml
  $CLI recipes/$name.yml out/$name --layout $layout --quiet > logs.$name 2>&1; ok $? "edit: experts 1, 0 of the source and a dense one"
  $CLI verify out/$name > logs.$name.v 2>&1; [ $? = 0 ] || { grep -q "1 problem" logs.$name.v && grep -q "has no tokenizer" logs.$name.v; }; ok $? "moe-merge verify"
  if [ "$remote" != "-" ]; then
    $R check-ckpt --model out/$name --no-model > logs.$name.ck 2>&1; ok $? "safetensors/index format (no transformers model: remote code)"
    return
  fi
  $R load-moe --model out/$name --ids "$IDS" > /dev/null 2>logs.$name.tf5; ok $? "transformers 5 strict load and run"
  if [ "$layout" = per-expert ]; then REF_TF=4 $R load-moe --model out/$name --ids "$IDS" > /dev/null 2>logs.$name.tf4; ok $? "transformers 4.57 strict load and run"; fi
  # Dropped to one expert: dense = MoE.
  if [ "$shared" = "-" ]; then
    { echo "base_model: $moe"; echo "experts_per_token: 1"; echo "experts:"; echo "  - source_model: $moe"; echo "    expert: 1"; } > recipes/$name-drop.yml
    $CLI recipes/$name-drop.yml out/$name-drop --layout $layout --quiet > logs.$name.d 2>&1; ok $? "drop to expert 1 alone"
    $CLI extract $moe --expert 1 -o out/$name-x --quiet > logs.$name.x 2>&1; ok $? "extract expert 1"
    $R moe-from-dense-check --dense out/$name-x --moe out/$name-drop --ids "$IDS" > logs.$name.dense 2>&1; ok $? "one-expert MoE = the extracted dense model (transformers 5)"
  fi
}
L=$D/llama-rope-llama3
merge_case mixtral mixtral $L/base $L/expert-a,$L/expert-b - per-expert
merge_case mixtral-fused mixtral $L/base $L/expert-a,$L/expert-b - fused
merge_case qwen3 qwen3 $WORK/qwen3/base $WORK/qwen3/a,$WORK/qwen3/b - per-expert
merge_case qwen2 qwen $WORK/qwen2/base $WORK/qwen2/a,$WORK/qwen2/b $WORK/qwen2/a per-expert
merge_case deepseek deepseek $WORK/llamab/base $WORK/llamab/a,$WORK/llamab/base - per-expert
edit_case mixtral-edit mixtral $L/expert-a per-expert - -
edit_case mixtral-fused-edit mixtral-fused $L/expert-a per-expert - -
edit_case mixtral-edit-fused mixtral $L/expert-a fused - -
edit_case qwen3-edit qwen3 $WORK/qwen3/a per-expert - -
edit_case qwen2-edit qwen2 $WORK/qwen2/a per-expert $WORK/qwen2/b -
edit_case qwen2-kept qwen2 $WORK/qwen2/a per-expert kept -
edit_case deepseek-edit deepseek $WORK/llamab/a per-expert - remote
echo "passed $pass, failed $fail"
