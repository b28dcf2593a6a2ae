// @vitest-environment happy-dom
import { act, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CSRF_HEADER, setCsrfToken } from '../api/client';
import type { FieldRow, SlideFields } from '../api/slides';
import type { ImageRecord } from '../api/types';
import { clearSlideFields, drawRegion, slideFieldsKey, useSlideFields } from './slideFields';

const slide = (extra: Record<string, unknown> = {}) =>
  ({
    id: 7,
    version: 3,
    kind: 'slide',
    slide: { vendor: 'aperio', levels: [], mpp_x: 0.5, mpp_y: 0.5, objective_power: 20, warnings: [] },
    status: 'scored',
    filename: 'CMU-1.svs',
    scores: {},
    draft: { model_id: 'm1', created_at: '2025-11-30T10:00:00Z' },
    width: 2220,
    height: 2967,
    ...extra,
  }) as unknown as ImageRecord;

const gridField: FieldRow = { index: 0, x: 0, y: 0, width: 1000, height: 1000, tissue_share: 0.8, scores: { fibrosis: 1 }, raw: null, error: null, roi: false };
const roi: FieldRow = { index: 1, x: 200, y: 300, width: 1200, height: 900, tissue_share: 1, scores: { fibrosis: 2 }, raw: null, error: null, roi: true, created_by: 'local' };

/** A server that lists the slide's fields and scores regions (adding them to the list). */
function server() {
  const fields: FieldRow[] = [gridField];
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      calls.push({ url, init });
      if (url === '/api/images/7/fields' && (init.method ?? 'GET') === 'GET') {
        const body: SlideFields = { image_id: 7, model_id: 'm1', width: 2220, height: 2967, fields: [...fields], distribution: [] };
        return new Response(JSON.stringify(body), { status: 200 });
      }
      if (url === '/api/images/7/roi' && init.method === 'POST') {
        fields.push(roi);
        return new Response(JSON.stringify(roi), { status: 201 });
      }
      return new Response(JSON.stringify({ error: 'not_found', detail: 'no such thing' }), { status: 404 });
    }),
  );
  const gets = () => calls.filter((c) => c.url.endsWith('/fields') && (c.init.method ?? 'GET') === 'GET').length;
  return { calls, gets };
}

describe('a slide’s fields', () => {
  afterEach(() => {
    clearSlideFields();
    setCsrfToken(null);
    vi.unstubAllGlobals();
  });

  it('are keyed by the slide’s draft, and not loaded while it is scored or for images', () => {
    expect(slideFieldsKey(slide())).toBe('fields/7/scored/m1/2025-11-30T10:00:00Z');
    expect(slideFieldsKey(slide({ status: 'scoring' }))).toBeNull();
    expect(slideFieldsKey(slide({ kind: 'image', slide: null }))).toBeNull();
  });

  it('are loaded once for the viewer and the panel, and again for both after a region is drawn', async () => {
    const { calls, gets } = server();
    const rec = slide();
    const { result } = renderHook(() => [useSlideFields(rec), useSlideFields(rec)] as const);
    await waitFor(() => expect(result.current.every((q) => q.data != null)).toBe(true));
    expect(gets()).toBe(1);
    const before = result.current[0].data;

    setCsrfToken('tok');
    let answered: FieldRow | undefined;
    await act(async () => {
      answered = await drawRegion(7, { x: 200, y: 300, width: 1200, height: 900 });
    });
    expect(answered).toEqual(roi);
    const post = calls.find((c) => c.init.method === 'POST');
    expect(post?.url).toBe('/api/images/7/roi');
    expect(JSON.parse(String(post?.init.body))).toEqual({ x: 200, y: 300, width: 1200, height: 900 });
    const headers = post?.init.headers as Record<string, string>;
    expect(headers[CSRF_HEADER]).toBe('tok');
    expect(headers['Content-Type']).toBe('application/json');

    // Both show the region once the one new request is answered (the old list stays meanwhile).
    await waitFor(() => expect(result.current.every((q) => q.data?.fields.some((f) => f.roi))).toBe(true));
    expect(gets()).toBe(2);
    expect(result.current[0].data).not.toBe(before);
    expect(result.current[0].data?.fields.at(-1)).toEqual(roi);
  });

  it('are not reloaded when the region is refused', async () => {
    const { gets } = server();
    vi.mocked(fetch).mockImplementationOnce(async () => new Response(JSON.stringify({ error: 'invalid', detail: 'too small', field: 'width' }), { status: 422 }));
    await expect(drawRegion(7, { x: 0, y: 0, width: 10, height: 10 })).rejects.toMatchObject({ status: 422 });
    expect(gets()).toBe(0);
  });
});
