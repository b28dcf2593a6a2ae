import { describe, expect, it } from 'vitest';
import { largestUpload, RESUMABLE_ABOVE_BYTES, uploadLimitsOf, uploadRejectReason, uploadRoute } from './files';

const MB = 1024 * 1024;
const GB = 1024 * MB;
/** The server's defaults: 512 MB in one request, 20 GB resumable. */
const limits = { maxUploadBytes: 512 * MB, resumableMaxBytes: 20 * GB };

describe('uploadRoute', () => {
  it('sends whole slides resumable whatever their size', () => {
    for (const n of ['CMU-1.svs', 'b.NDPI', 'd.scn', 'e.bif', 'g.btf', 'mirax-slide.zip']) {
      expect(uploadRoute(n, 2 * MB, limits), n).toBe('resumable');
    }
  });
  it('sends ordinary images in one request up to 64 MB', () => {
    for (const n of ['a.tif', 'b.TIFF', 'c.png', 'd.jpg']) expect(uploadRoute(n, 3 * MB, limits), n).toBe('multipart');
    expect(uploadRoute('a.tif', RESUMABLE_ABOVE_BYTES, limits)).toBe('multipart');
  });
  it('sends any file over 64 MB or over the one-request limit resumable', () => {
    expect(uploadRoute('big.tif', RESUMABLE_ABOVE_BYTES + 1, limits)).toBe('resumable');
    expect(uploadRoute('huge.tiff', 600 * MB, limits)).toBe('resumable');
    // A server that takes only 10 MB in one request.
    expect(uploadRoute('a.png', 20 * MB, { maxUploadBytes: 10 * MB, resumableMaxBytes: 20 * GB })).toBe('resumable');
  });
  it('sends everything in one request to a server without resumable uploads', () => {
    for (const r of [null, 0, Number.NaN]) {
      expect(uploadRoute('CMU-1.svs', 2 * MB, { maxUploadBytes: 512 * MB, resumableMaxBytes: r })).toBe('multipart');
      expect(uploadRoute('big.tif', 600 * MB, { maxUploadBytes: 512 * MB, resumableMaxBytes: r })).toBe('multipart');
    }
  });
  it('sends a file over the resumable limit in one request when that takes it', () => {
    const l = { maxUploadBytes: 4 * GB, resumableMaxBytes: 1 * GB };
    expect(uploadRoute('slide.svs', 2 * GB, l)).toBe('multipart');
    expect(uploadRoute('slide.svs', 5 * GB, l)).toBe('resumable');
  });
});

describe('uploadRejectReason', () => {
  it('refuses a file over the resumable limit before sending it, in words', () => {
    expect(uploadRejectReason('slide.svs', 21 * GB, limits)).toBe("Too large: 22.5 GB is over the server's limit of 21.5 GB.");
    expect(uploadRejectReason('slide.svs', 19 * GB, limits)).toBeNull();
    // Over the one-request limit, but resumable takes it.
    expect(uploadRejectReason('big.tif', 600 * MB, limits)).toBeNull();
  });
  it('keeps the one-request limit where there is no resumable upload', () => {
    expect(uploadRejectReason('big.tif', 600 * MB, { maxUploadBytes: 512 * MB, resumableMaxBytes: null })).toMatch(/over the server's limit of 537 MB/);
  });
  it('still refuses what the server cannot read, and empty files', () => {
    expect(uploadRejectReason('notes.txt', 10, limits)).toMatch(/Unsupported file type/);
    expect(uploadRejectReason('slide.svs', 0, limits)).toMatch(/empty/);
  });
});

describe('upload limits', () => {
  it('reads the config, ignoring what is missing or not a positive number', () => {
    expect(uploadLimitsOf({ max_upload_bytes: 512 * MB, resumable_max_bytes: 20 * GB, upload_chunk_bytes: 16 * MB, upload_expiry_hours: 24 })).toEqual({
      maxUploadBytes: 512 * MB,
      resumableMaxBytes: 20 * GB,
      chunkBytes: 16 * MB,
      expiryHours: 24,
    });
    expect(uploadLimitsOf({ max_upload_bytes: 512 * MB, upload_chunk_bytes: 0 })).toEqual({
      maxUploadBytes: 512 * MB,
      resumableMaxBytes: null,
      chunkBytes: null,
      expiryHours: null,
    });
  });
  it('names the largest file the client sends', () => {
    expect(largestUpload(limits)).toBe(20 * GB);
    expect(largestUpload({ maxUploadBytes: 512 * MB, resumableMaxBytes: null })).toBe(512 * MB);
    expect(largestUpload({ maxUploadBytes: null, resumableMaxBytes: null })).toBeNull();
  });
});
