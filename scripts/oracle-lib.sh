# Sourced by the scripts/oracle-check-*.sh development aids: the oracle (../shared/oracle, from the
# repository or a worktree under /work/wt), the small models the fixtures do not have, the built CLI,
# PASS/FAIL counting, and one merge of a case. Expects ROOT; WORK defaults to $1.
R=${REF:-$ROOT/../shared/oracle/ref}
[ -x "$R" ] || R=$ROOT/../../shared/oracle/ref
WORK=${WORK:-$1}
mkdir -p "$WORK" && cd "$WORK"
# Inputs the fixtures do not have: Qwen2/Qwen3 experts, Qwen3 with attention bias, Llama with attention bias.
C="--vocab 320 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --inter 128 --dtype bfloat16"
mk() { [ -d "$1" ] || $R make-model $C "${@:2}" --out "$1" >/dev/null; }
mk qwen3/base --arch qwen3 --head-dim 32 --seed 71
mk qwen3/a --arch qwen3 --head-dim 32 --seed 72
mk qwen3/b --arch qwen3 --head-dim 32 --seed 73
mk qwen3b/base --arch qwen3 --attention-bias --tie-embeddings --rope-scaling yarn --seed 74
mk qwen3b/a --arch qwen3 --attention-bias --tie-embeddings --rope-scaling yarn --seed 75
mk qwen2/base --arch qwen2 --seed 81
mk qwen2/a --arch qwen2 --seed 82
mk qwen2/b --arch qwen2 --seed 83
mk qwen2w/base --arch qwen2 --sliding-window 4 --max-window-layers 0 --seed 84
mk llamab/base --arch llama --attention-bias --seed 91
mk llamab/a --arch llama --attention-bias --seed 92

D=$ROOT/tests/fixtures/dense
CLI="node $ROOT/dist/cli/main.js"
IDS='1,5,9,33,70,2,11;7,8'
pass=0; fail=0
ok() { if [ $1 -eq 0 ]; then pass=$((pass+1)); echo "  PASS $2"; else fail=$((fail+1)); echo "  FAIL $2"; fi; }
# merge_case name arch base experts(comma) shared(comma or -) layout: recipes/<name>.yml merged into out/<name>
merge_case() {
  rm -rf out/$1; mkdir -p recipes out
  {
    echo "base_model: $3"; echo "gate_mode: random"; echo "architecture: $2"; echo "experts:"
    for e in ${4//,/ }; do echo "  - source_model: $e"; done
    if [ "$5" != "-" ]; then echo "shared_experts:"; for e in ${5//,/ }; do echo "  - source_model: $e"; done; fi
  } > recipes/$1.yml
  $CLI recipes/$1.yml out/$1 --layout $6 --random-seed 1 --i-understand-this-is-not-useful-without-training --quiet > logs.$1 2>&1; ok $? "merge"
}
