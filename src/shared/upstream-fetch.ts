/**
 * A fetch for upstream calls (proxying and probes). `keepsEncoding`: a runtime's own client whose
 * responses carry bodies as the upstream sent them (never decoded), so Content-Encoding and
 * Content-Length stay, and whose response headers may be changed in place.
 */
export type UpstreamFetch = typeof fetch & { readonly keepsEncoding?: true };
