/**
 * The one way the app talks to the backend: a client typed by `schema.d.ts`, which
 * `npm run gen:api` generates from the backend's OpenAPI document (never edit it by hand).
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

// Same origin in production (the backend serves this app) and in dev (Vite proxies /api).
const origin = typeof window !== "undefined" ? window.location.origin : "";

export const api = createClient<paths>({ baseUrl: origin });

/** The cookie the backend sets at login; sent back as a header it proves a request is same-site. */
const CSRF_COOKIE = "apprentice_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function csrfToken(): string | null {
  if (typeof document === "undefined") return null;
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${CSRF_COOKIE}=`));
  return found ? decodeURIComponent(found.slice(CSRF_COOKIE.length + 1)) : null;
}

/** Callbacks run when any request answers 401: the session ended (or never began). */
const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}
function notifyUnauthorized(path: string) {
  // The login call's own 401 means a wrong password, not an ended session.
  if (!path.endsWith("/api/auth/login")) unauthorizedListeners.forEach((listener) => listener());
}

api.use({
  onRequest({ request }) {
    const token = csrfToken();
    if (token && UNSAFE.has(request.method)) request.headers.set(CSRF_HEADER, token);
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401) notifyUnauthorized(new URL(request.url).pathname);
    return response;
  },
});

/** One validation problem in an upload or a request body, as the backend reports it. */
export interface FieldError {
  line?: number | null;
  field?: string | null;
  message: string;
}

/**
 * Every failure the UI shows: the backend's `{"detail": {"code", "message", ...}}`, FastAPI's
 * request-validation list, or no answer at all (status 0).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly errors: FieldError[];
  readonly errorCount: number;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.errors = Array.isArray(details.errors) ? (details.errors as FieldError[]) : [];
    this.errorCount = typeof details.error_count === "number" ? details.error_count : this.errors.length;
  }
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

/** Normalises any error body into an ApiError. */
export function toApiError(status: number, body: unknown): ApiError {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    const { code, message, ...rest } = detail as Record<string, unknown>;
    return new ApiError(
      status,
      typeof code === "string" ? code : "error",
      typeof message === "string" ? message : `Request failed (${status})`,
      rest,
    );
  }
  if (Array.isArray(detail)) {
    // FastAPI's request validation: [{loc: ["body", "name"], msg: "..."}]
    const errors: FieldError[] = (detail as ValidationItem[]).map((item) => ({
      field: (item.loc ?? []).filter((part) => part !== "body").join("."),
      message: item.msg ?? "invalid",
    }));
    const first = errors[0];
    const message = first ? (first.field ? `${first.field}: ${first.message}` : first.message) : "Invalid request";
    return new ApiError(status, "validation_error", message, { errors, error_count: errors.length });
  }
  if (typeof detail === "string") return new ApiError(status, "error", detail);
  return new ApiError(status, "error", status ? `Request failed (${status})` : "Cannot reach the server");
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Awaits an openapi-fetch call and returns its data, or throws an ApiError. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (cause) {
    throw new ApiError(0, "network", "Cannot reach the server. Is the backend running?", { cause: String(cause) });
  }
  if (result.error !== undefined || !result.response.ok) {
    throw toApiError(result.response.status, result.error);
  }
  return result.data as T;
}

export interface UploadResult<T> {
  status: number;
  data: T;
}

/**
 * POSTs one file as multipart field `file` with progress reports. XMLHttpRequest because fetch
 * cannot report upload progress, and a 50 MB demonstration file deserves a progress bar.
 */
export function uploadFile<T>(
  path: string,
  file: File,
  { onProgress, signal }: { onProgress?: (fraction: number) => void; signal?: AbortSignal } = {},
): Promise<UploadResult<T>> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", origin + path);
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    const token = csrfToken();
    if (token) request.setRequestHeader(CSRF_HEADER, token);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve({ status: request.status, data: request.response as T });
      else {
        if (request.status === 401) notifyUnauthorized(path);
        reject(toApiError(request.status, request.response));
      }
    };
    request.onerror = () => reject(new ApiError(0, "network", "Upload failed: cannot reach the server."));
    request.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
    signal?.addEventListener("abort", () => request.abort());
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}
