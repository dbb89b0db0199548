/**
 * The distribution spec's error form: a status and `{"errors":[{"code","message","detail"}]}`.
 * Handlers throw RegistryError; the router turns it into the response.
 */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  body(): string {
    return JSON.stringify({ errors: [{ code: this.code, message: this.message, ...(this.detail !== undefined ? { detail: this.detail } : {}) }] });
  }
}

export const nameUnknown = (name: string) => new RegistryError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name });
export const nameInvalid = (name: string, why: string) => new RegistryError(400, 'NAME_INVALID', `invalid repository name: ${why}`, { name });
export const manifestUnknown = (reference: string) => new RegistryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown', { reference });
export const manifestInvalid = (why: string) => new RegistryError(400, 'MANIFEST_INVALID', `manifest invalid: ${why}`);
export const manifestBlobUnknown = (digest: string) => new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', 'manifest references a blob unknown to registry', { digest });
export const blobUnknown = (digest: string) => new RegistryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest });
export const uploadUnknown = (id: string) => new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
export const digestInvalid = (why: string, detail?: unknown) => new RegistryError(400, 'DIGEST_INVALID', `provided digest did not match uploaded content: ${why}`, detail);
export const tagInvalid = (tag: string) => new RegistryError(400, 'TAG_INVALID', 'manifest tag is not a valid tag', { tag });
export const unsupported = (why: string) => new RegistryError(405, 'UNSUPPORTED', why);
export const rangeInvalid = (why: string, headers: Record<string, string> = {}) => new RegistryError(416, 'RANGE_INVALID', why, undefined, headers);
export const paginationInvalid = (value: string) => new RegistryError(400, 'PAGINATION_NUMBER_INVALID', 'invalid number of results requested', { n: value });
