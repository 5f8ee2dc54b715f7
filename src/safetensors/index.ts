/** Streaming safetensors reading and writing with bounded memory: headers in RAM, data via positional I/O. */
export { dtypeBytes, dtypeOfTorchName, isDType, isFloatDType, torchDTypeName, DTYPES, type DType, type FloatDType } from "./dtype.js";
export {
	parseSafetensorsHeader,
	parseHeaderLength,
	HEADER_LENGTH_BYTES,
	MAX_HEADER_BYTES,
	type SafetensorsHeader,
	type TensorInfo,
} from "./header.js";
export { type ByteReader, SafetensorsFile } from "./file.js";
export { ModelWeights, type TensorLocation, type TensorReader, type WeightSource } from "./model-weights.js";
export { INDEX_FILE_NAME, SINGLE_FILE_NAME } from "./file-names.js";
export { ONLY_SAFETENSORS_HINT, folderFileNames, selectWeightFiles, type WeightFiles } from "./weight-files.js";
export { convertDtype, toFloat32, fromFloat32 } from "./convert.js";
export { planShards, shardFileName, tensorByteLength, type OutputTensorSpec, type ShardPlan } from "./shard-plan.js";
export { encodeShardHeader } from "./shard-header.js";
export { ShardWriter, type ShardWriterOptions } from "./shard-writer.js";
export { encodeIndex } from "./shard-index.js";
