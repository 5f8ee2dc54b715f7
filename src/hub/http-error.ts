import { HubApiError } from "@huggingface/hub";

/**
 * The library's HubApiError for a response we fetched ourselves, with the server's JSON (or text) as
 * `data`, so explainHubFailure treats our requests and the library's alike.
 */
export async function responseError(response: Response): Promise<HubApiError> {
	const error = new HubApiError(response.url, response.status, response.headers.get("x-request-id") ?? undefined);
	const text = await response.text().catch(() => "");
	let data: Record<string, unknown> = { message: text };
	try {
		const json = JSON.parse(text);
		if (json && typeof json === "object") data = json;
	} catch {
		// not JSON: keep the text
	}
	error.data = data as HubApiError["data"];
	const said = typeof data.error === "string" ? data.error : typeof data.message === "string" ? data.message : "";
	error.message = `Api error with status ${response.status}${said ? `: ${said}` : ""}`;
	return error;
}
