/**
 * Where a name peft uses lives in a checkpoint. peft names adapters after transformers' modules and
 * parameters; a checkpoint may hold the same weights under other names: transformers 4's per-expert
 * Linear modules (`block_sparse_moe.experts.3.w1`, `mlp.experts.3.gate_proj`) and routers are rows of
 * transformers 5's fused `mlp.experts.gate_up_proj` / `down_proj` and `mlp.gate`, and the other way
 * round. Both directions are read from the output architectures' descriptions (expert, fused and router
 * names), never from a table of our own.
 *
 * A "row space" is a weight seen as a matrix [rows, cols] (a 3-D [E, d1, d2] one as [E·d1, d2]) made of
 * row ranges of real tensors.
 */
import { ARCHITECTURES } from "../architectures/registry.js";
import { MLP_PROJECTIONS, expertTensor } from "../architectures/expert-tensors.js";
import { LLAMA_LIKE_NAMES } from "../inputs/input-families.js";

export interface RowPiece {
	/** First row of the piece in the row space. */
	start: number;
	rows: number;
	/** The checkpoint tensor and the row of it where the piece begins. */
	tensor: string;
	tensorRow: number;
}

export interface RowSpace {
	name: string;
	rows: number;
	cols: number;
	/** 3-D parameters: experts and rows per expert (d1); 1 and rows otherwise. */
	experts: number;
	rowsPerExpert: number;
	pieces: RowPiece[];
}

/** Finds row spaces by name in a checkpoint given by its tensors' shapes. */
export class CheckpointRows {
	readonly shapes: ReadonlyMap<string, readonly number[]>;
	/** Names the checkpoint does not have, found in the other expert layout. */
	private readonly aliases = new Map<string, RowSpace>();

	constructor(shapes: ReadonlyMap<string, readonly number[]>) {
		this.shapes = shapes;
		this.buildAliases();
	}

	/** The row space of a weight name, or undefined when the checkpoint has no such weight in any layout. */
	find(name: string): RowSpace | undefined {
		const shape = this.shapes.get(name);
		if (shape) return direct(name, shape);
		return this.aliases.get(name);
	}

	private buildAliases(): void {
		const layers = new Set<number>();
		for (const name of this.shapes.keys()) {
			const layer = LLAMA_LIKE_NAMES.layerOf(name);
			if (layer !== undefined) layers.add(layer);
		}
		for (const arch of ARCHITECTURES) {
			for (const layer of layers) {
				const fused = arch.fusedExpertNames?.(layer);
				const perExpertRouter = arch.routerName(layer, "per-expert");
				const fusedRouter = arch.routerName(layer, "fused");
				if (fused && this.shapes.has(fused.gateUp) && this.shapes.has(fused.down)) {
					// A fused checkpoint: each per-expert module is rows of one expert's slab of a stacked tensor.
					const [experts, twoI, hidden] = this.shapes.get(fused.gateUp)!;
					const sizes = { intermediate: twoI / 2, hidden };
					for (let e = 0; e < experts; e++) {
						for (const p of MLP_PROJECTIONS) {
							const { name: tensor, fused: rows } = expertTensor(arch, "fused", layer, e, p, sizes);
							const [, slabRows, cols] = this.shapes.get(tensor)!;
							this.alias(expertTensor(arch, "per-expert", layer, e, p, sizes).name, {
								rows: rows!.rows, cols, experts: 1, rowsPerExpert: rows!.rows,
								pieces: [{ start: 0, rows: rows!.rows, tensor, tensorRow: e * slabRows + rows!.firstRow }],
							});
						}
					}
					if (this.shapes.has(fusedRouter)) this.alias(perExpertRouter, direct(fusedRouter, this.shapes.get(fusedRouter)!));
				}
				const gate0 = arch.expertTensorName(layer, 0, "gate_proj");
				if (fused && this.shapes.has(gate0)) {
					// A per-expert checkpoint: the fused parameters are made of the experts' matrices, each at its rows of its slab.
					const [inter, hidden] = this.shapes.get(gate0)!;
					const sizes = { intermediate: inter, hidden };
					let experts = 0;
					while (this.shapes.has(arch.expertTensorName(layer, experts, "gate_proj"))) experts++;
					const spaces = new Map([fused.gateUp, fused.down].map((name) => [name, { slabRows: 0, cols: 0, pieces: [] as RowPiece[] }]));
					// Each slab is the rows of its projections; one expert's give the sizes.
					for (const p of MLP_PROJECTIONS) {
						const { name, fused: rows } = expertTensor(arch, "fused", layer, 0, p, sizes);
						const space = spaces.get(name)!;
						space.slabRows += rows!.rows;
						space.cols = this.shapes.get(arch.expertTensorName(layer, 0, p))![1];
					}
					for (let e = 0; e < experts; e++) {
						for (const p of MLP_PROJECTIONS) {
							const { name, fused: rows } = expertTensor(arch, "fused", layer, e, p, sizes);
							const space = spaces.get(name)!;
							space.pieces.push({ start: e * space.slabRows + rows!.firstRow, rows: rows!.rows, tensor: expertTensor(arch, "per-expert", layer, e, p, sizes).name, tensorRow: 0 });
						}
					}
					for (const [name, { slabRows, cols, pieces }] of spaces) {
						this.alias(name, { rows: experts * slabRows, cols, experts, rowsPerExpert: slabRows, pieces: pieces.sort((a, b) => a.start - b.start) });
					}
					if (this.shapes.has(perExpertRouter)) this.alias(fusedRouter, direct(perExpertRouter, this.shapes.get(perExpertRouter)!));
				}
			}
		}
	}

	private alias(name: string, space: Omit<RowSpace, "name">): void {
		if (!this.shapes.has(name) && !this.aliases.has(name)) this.aliases.set(name, { name, ...space });
	}
}

function direct(name: string, shape: readonly number[]): RowSpace {
	const cols = shape[shape.length - 1] ?? 1;
	const experts = shape.length === 3 ? shape[0] : 1;
	const rowsPerExpert = shape.length === 3 ? shape[1] : shape.length === 2 ? shape[0] : 1;
	const rows = experts * rowsPerExpert;
	return { name, rows, cols, experts, rowsPerExpert, pieces: [{ start: 0, rows, tensor: name, tensorRow: 0 }] };
}
