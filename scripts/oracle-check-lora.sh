#!/usr/bin/env bash
# Development check (needs ../shared/oracle): apply-lora on every LoRA fixture case (tests/fixtures/lora),
# then load each output strictly in transformers 5.18 and 4.57 (`ref check-ckpt`, then `ref load-moe` for
# MoE outputs or `ref hidden` for dense ones) and run `moe-merge verify`. Prints one line per check and
# a summary; exit 1 when any check fails. Usage: [ONLY=<case regex>] scripts/oracle-check-lora.sh [work-dir]
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REF="${REF:-$ROOT/../../shared/oracle/ref}"
[ -x "$REF" ] || REF=/work/shared/oracle/ref
WORK="${1:-$(mktemp -d /tmp/oracle-lora-XXXXXX)}"
mkdir -p "$WORK"
CLI="node $ROOT/dist/cli/main.js"
LORA="$ROOT/tests/fixtures/lora"
pass=0; fail=0
check() { # name, command...
	local name="$1"; shift
	if "$@" >"$WORK/$name.log" 2>&1; then echo "ok   $name"; pass=$((pass + 1)); else echo "FAIL $name (see $WORK/$name.log)"; fail=$((fail + 1)); fi
}
run_case() { # name, base, adapters...
	local name="$1" base="$2"; shift 2
	# ONLY=<regex> runs the matching cases only.
	if [ -n "${ONLY:-}" ] && ! [[ "$name" =~ $ONLY ]]; then return; fi
	local out="$WORK/$name"
	rm -rf "$out"
	check "$name.apply" $CLI apply-lora "$base" "$@" -o "$out"
	# Most fixture models have no tokenizer: verify must pass, or find that and nothing else.
	check "$name.verify" bash -c "$CLI verify '$out' || { $CLI verify '$out' 2>&1 | grep -q '^1 problem' && $CLI verify '$out' 2>&1 | grep -q 'has no tokenizer'; }"
	local moe; moe=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('model_type'))" "$out/config.json")
	local fused=0
	python3 -c "import json,struct,sys;f=open(sys.argv[1],'rb');n=struct.unpack('<Q',f.read(8))[0];sys.exit(0 if any('gate_up_proj' in k for k in json.loads(f.read(n))) else 1)" "$out/model.safetensors" && fused=1
	for tf in 5 4; do
		# transformers 4 reads the per-expert layout only; check-ckpt compares names with the per-expert model only.
		if [ "$tf" = 4 ] && [ "$fused" = 1 ]; then continue; fi
		# transformers 5 names a per-expert Mixtral's router mlp.gate in its model (converted when loading): names are compared in 4.57.
		if [ "$fused" = 1 ] || { [ "$moe" = mixtral ] && [ "$tf" = 5 ]; }; then check "$name.check-ckpt.tf$tf" env REF_TF=$tf "$REF" check-ckpt --model "$out" --no-model
		else check "$name.check-ckpt.tf$tf" env REF_TF=$tf "$REF" check-ckpt --model "$out"; fi
		if [ "$moe" = mixtral ]; then check "$name.load-moe.tf$tf" env REF_TF=$tf "$REF" load-moe --model "$out" --ids 1,2,3
		else check "$name.load.tf$tf" env REF_TF=$tf "$REF" hidden --model "$out" --ids 1,2,3; fi
	done
}
for dir in "$LORA"/*/; do
	[ -f "$dir/case.json" ] || continue
	name=$(basename "$dir")
	base=$(python3 -c "import json,sys,os; c=json.load(open(sys.argv[1])); print(os.path.normpath(os.path.join(sys.argv[2], c['base'])))" "$dir/case.json" "$LORA")
	mapfile -t adapters < <(python3 -c "import json,sys; [print(sys.argv[2] + a) for a in json.load(open(sys.argv[1]))['adapters']]" "$dir/case.json" "$dir")
	run_case "$name" "$base" "${adapters[@]}"
done
# Across layouts: a transformers-4 Mixtral adapter on the fused checkpoint, a target_parameters adapter on the per-expert one.
run_case mixtral-on-fused "$LORA/mixtral-fused-base" "$LORA/mixtral/adapter"
run_case fused-params-on-per-expert "$LORA/mixtral-base" "$LORA/mixtral-fused-params/adapter"
echo "$pass passed, $fail failed ($WORK)"
[ "$fail" = 0 ]
