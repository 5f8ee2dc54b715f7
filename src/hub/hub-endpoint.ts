/** The Hugging Face Hub's public address, used when HF_ENDPOINT is not set. */
export const DEFAULT_HUB_URL = "https://huggingface.co";

/** The Hub to talk to: HF_ENDPOINT (a mirror or a hub-compatible server) or huggingface.co, without a trailing slash. */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
	return (env.HF_ENDPOINT || DEFAULT_HUB_URL).replace(/\/+$/, "");
}

/** huggingface_hub's reading of boolean variables such as HF_HUB_OFFLINE. */
export function envFlag(value: string | undefined): boolean {
	return value !== undefined && ["1", "on", "yes", "true"].includes(value.trim().toLowerCase());
}
