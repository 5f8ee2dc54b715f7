/**
 * The parts of the WebAssembly JS API we use. TypeScript ships these only in lib.dom, which would
 * bring browser globals into a Node project; @types/node 20 does not declare them.
 */
declare namespace WebAssembly {
	interface MemoryDescriptor {
		initial: number;
		maximum?: number;
		shared?: boolean;
	}
	class Memory {
		constructor(descriptor: MemoryDescriptor);
		readonly buffer: ArrayBuffer | SharedArrayBuffer;
		grow(delta: number): number;
	}
	class Module {
		constructor(bytes: BufferSource);
	}
	class Instance {
		constructor(module: Module, imports?: Imports);
		readonly exports: Record<string, unknown>;
	}
	type ImportValue = Memory | number | ((...args: never[]) => unknown) | Global | Table;
	type Imports = Record<string, Record<string, ImportValue>>;
	class Global {
		constructor(descriptor: { value: string; mutable?: boolean }, value?: number);
		value: number;
	}
	class Table {
		constructor(descriptor: { element: string; initial: number; maximum?: number });
	}
	function validate(bytes: BufferSource): boolean;
	function compile(bytes: BufferSource): Promise<Module>;
	function instantiate(module: Module, imports?: Imports): Promise<Instance>;
	function instantiate(bytes: BufferSource, imports?: Imports): Promise<{ module: Module; instance: Instance }>;
}
type BufferSource = ArrayBufferView | ArrayBuffer;
