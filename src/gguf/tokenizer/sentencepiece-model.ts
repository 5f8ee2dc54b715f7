/**
 * Reads a SentencePiece `tokenizer.model` (a serialized sentencepiece.ModelProto, protocol buffers
 * wire format) without the sentencepiece or protobuf libraries: the pieces (text, score, type) and
 * the trainer's model type. Every other field is skipped by its wire type.
 *
 *   ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2; ... }
 *   SentencePiece   { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
 *   TrainerSpec     { ...; ModelType model_type = 3 [default UNIGRAM]; ... }
 */
import { ModelError } from "../../errors.js";

/** sentencepiece.ModelProto.SentencePiece.Type. */
export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** sentencepiece.TrainerSpec.ModelType. */
export const SPM_MODEL_TYPES: Readonly<Record<number, string>> = { 1: "unigram", 2: "bpe", 3: "word", 4: "char" };

export interface SentencePiece {
	piece: string;
	/** As stored: a float32. */
	score: number;
	type: number;
}

export interface SentencePieceModel {
	pieces: SentencePiece[];
	/** TrainerSpec.model_type: 1 unigram (the default), 2 bpe, 3 word, 4 char. */
	modelType: number;
}

/** A protocol buffers message being read: fields one after the other, each a tag then a value. */
class WireReader {
	at: number;
	constructor(private readonly bytes: Uint8Array, from: number, private readonly end: number) {
		this.at = from;
	}

	get done(): boolean {
		return this.at >= this.end;
	}

	/** An unsigned varint (values up to 2^53; longer ones, e.g. a negative int32, only to be skipped). */
	varint(): number {
		let value = 0;
		let scale = 1;
		for (let i = 0; i < 10; i++) {
			if (this.at >= this.end) throw new Error("a varint runs past the end");
			const byte = this.bytes[this.at++]!;
			value += (byte & 0x7f) * scale;
			scale *= 128;
			if (byte < 0x80) return value;
		}
		throw new Error("a varint longer than 10 bytes");
	}

	/** The next field's number and wire type. */
	tag(): { field: number; wire: number } {
		const tag = this.varint();
		return { field: Math.floor(tag / 8), wire: tag % 8 };
	}

	/** [from, to) of a length-delimited value. */
	span(): [number, number] {
		const length = this.varint();
		if (this.at + length > this.end) throw new Error(`a field of ${length} bytes runs past the end`);
		const from = this.at;
		this.at += length;
		return [from, this.at];
	}

	float32(): number {
		if (this.at + 4 > this.end) throw new Error("a float runs past the end");
		const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4).getFloat32(0, true);
		this.at += 4;
		return value;
	}

	skip(wire: number): void {
		if (wire === 0) this.varint();
		else if (wire === 1) this.fixed(8);
		else if (wire === 2) this.span();
		else if (wire === 5) this.fixed(4);
		else throw new Error(`wire type ${wire} is not one a SentencePiece model uses`);
	}

	private fixed(n: number): void {
		if (this.at + n > this.end) throw new Error("a fixed-size field runs past the end");
		this.at += n;
	}
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function readPiece(bytes: Uint8Array, [from, to]: [number, number]): SentencePiece {
	const reader = new WireReader(bytes, from, to);
	const piece: SentencePiece = { piece: "", score: 0, type: PIECE_TYPE.NORMAL };
	while (!reader.done) {
		const { field, wire } = reader.tag();
		if (field === 1 && wire === 2) piece.piece = utf8.decode(bytes.subarray(...reader.span()));
		else if (field === 2 && wire === 5) piece.score = reader.float32();
		else if (field === 3 && wire === 0) piece.type = reader.varint();
		else reader.skip(wire);
	}
	return piece;
}

function readModelType(bytes: Uint8Array, [from, to]: [number, number]): number {
	const reader = new WireReader(bytes, from, to);
	let modelType = 1;
	while (!reader.done) {
		const { field, wire } = reader.tag();
		if (field === 3 && wire === 0) modelType = reader.varint();
		else reader.skip(wire);
	}
	return modelType;
}

/** Parses the bytes of `file` (named in errors); a ModelError when they are not a SentencePiece model. */
export function parseSentencePieceModel(file: string, bytes: Uint8Array): SentencePieceModel {
	const pieces: SentencePiece[] = [];
	let modelType = 1;
	try {
		const reader = new WireReader(bytes, 0, bytes.length);
		while (!reader.done) {
			const { field, wire } = reader.tag();
			if (field === 1 && wire === 2) pieces.push(readPiece(bytes, reader.span()));
			else if (field === 2 && wire === 2) modelType = readModelType(bytes, reader.span());
			else reader.skip(wire);
		}
	} catch (error) {
		throw new ModelError(`${file}: not a SentencePiece model: ${(error as Error).message}`, { file, cause: error });
	}
	if (pieces.length === 0) throw new ModelError(`${file}: not a SentencePiece model: it has no pieces`, { file });
	const unknownType = pieces.findIndex((p) => !Object.values(PIECE_TYPE).includes(p.type as never));
	if (unknownType >= 0) throw new ModelError(`${file}: piece ${unknownType} has type ${pieces[unknownType]!.type}, not a SentencePiece piece type`, { file });
	return { pieces, modelType };
}
