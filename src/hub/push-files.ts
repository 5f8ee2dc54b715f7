import { constants } from "node:fs";
import { type FileHandle, lstat, open, readdir, readlink, realpath } from "node:fs/promises";
import { join, relative, resolve, isAbsolute } from "node:path";
import { FdBlob } from "./fd-blob.js";
import { HubError } from "./hub-error.js";

/** A file of the folder to push, open, with the bytes to upload. */
export interface LocalFile {
	name: string;
	size: number;
	content: FdBlob;
}

/** The files of a push, open until `close()`. */
export interface PushFiles {
	root: string;
	files: LocalFile[];
	close(): Promise<void>;
}

/**
 * The folder's top-level regular files (hidden ones and subfolders excepted), each opened once and
 * checked, so that a push uploads what is inside the folder and nothing else:
 * - a symbolic link pointing outside the folder (or nowhere) is refused, with its name; one that stays
 *   inside is uploaded under its own name with its target's bytes;
 * - the file is opened with O_NOFOLLOW and the opened file must be the one inspected (same device and
 *   inode; on Linux, /proc/self/fd says where it really is), so swapping a file for a link between the
 *   check and the read uploads nothing it should not;
 * - the bytes hashed and uploaded are read from that open file, not from the path again.
 */
export async function openPushFiles(dir: string): Promise<PushFiles> {
	const root = resolve(dir);
	let realRoot: string;
	let names: string[];
	try {
		realRoot = await realpath(root);
		names = (await readdir(realRoot)).filter((n) => !n.startsWith(".")).sort();
	} catch (cause) {
		throw new HubError(`cannot read the folder to push, ${root} (${(cause as NodeJS.ErrnoException).code})`, { file: root });
	}
	const files: LocalFile[] = [];
	const handles: FileHandle[] = [];
	const refused: string[] = [];
	const close = async () => {
		await Promise.all(handles.map((h) => h.close().catch(() => {})));
	};
	try {
		for (const name of names) {
			const opened = await openInside(realRoot, name);
			if (typeof opened === "string") refused.push(opened);
			else if (opened) {
				handles.push(opened.handle);
				files.push({ name, size: opened.size, content: new FdBlob(opened.handle, 0, opened.size, join(root, name)) });
			}
		}
		if (refused.length > 0) {
			throw new HubError(`${root}: ${refused.join("; ")}; nothing was pushed`, {
				file: root,
				hint: "a push uploads only the folder's own files: copy a file that belongs to the model into the folder (cp -L), or remove the link",
			});
		}
		if (!files.some((f) => f.name === "config.json") || !files.some((f) => f.name.endsWith(".safetensors"))) {
			throw new HubError(`${root} is not a model folder (it needs config.json and *.safetensors); nothing was pushed`, {
				file: root,
				hint: "usage: moe-merge push <model-folder> <org/name>",
			});
		}
	} catch (error) {
		await close();
		throw error;
	}
	return { root, files, close };
}

/** The open file for `name`, undefined for a folder, or why it is refused. */
async function openInside(realRoot: string, name: string): Promise<{ handle: FileHandle; size: number } | string | undefined> {
	const path = join(realRoot, name);
	const seen = await lstat(path);
	if (seen.isDirectory()) return undefined;
	let target = path;
	let expected = seen;
	if (seen.isSymbolicLink()) {
		const link = await readlink(path).catch(() => "?");
		target = await realpath(path).catch(() => "");
		if (!target) return `${name} is a symbolic link to ${link}, which does not exist`;
		if (!isInside(realRoot, target)) return `${name} is a symbolic link to ${target}, outside the folder`;
		expected = await lstat(target);
		if (expected.isDirectory()) return undefined;
	}
	if (!expected.isFile()) return `${name} is not a regular file`;
	let handle: FileHandle;
	try {
		handle = await open(target, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
	} catch (cause) {
		const code = (cause as NodeJS.ErrnoException).code;
		return code === "ELOOP" ? `${name} became a symbolic link while it was being checked` : `${name} cannot be opened (${code})`;
	}
	const now = await handle.stat();
	const where = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
	if (!now.isFile() || now.dev !== expected.dev || now.ino !== expected.ino || (where !== undefined && !isInside(realRoot, where))) {
		await handle.close();
		return `${name} changed while it was being checked`;
	}
	return { handle, size: now.size };
}

function isInside(root: string, path: string): boolean {
	const rel = relative(root, path);
	return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}
