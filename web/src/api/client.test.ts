import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  activateModel,
  cancelTrainingRun,
  changePassword,
  createStudy,
  CSRF_HEADER,
  csrfHeaders,
  deleteImage,
  etagOf,
  evaluateModel,
  getConfig,
  getCsrfToken,
  getDrafts,
  getEvaluationSet,
  getRead,
  getRetrainPolicy,
  getTrainingRun,
  importModel,
  listModelEvaluations,
  listQuery,
  listStudies,
  listTrainingRuns,
  login,
  logout,
  modelUrls,
  parseRetryAfter,
  patchScores,
  putFinal,
  rescore,
  restoreImage,
  rollbackModel,
  runRetrainPolicy,
  setCsrfToken,
  setEvaluationSet,
  setModelField,
  setRetrainPolicy,
  setUnauthorizedHandler,
  startTraining,
  studyUrls,
  submitRead,
  uploadFile,
} from './client';
import type { ImageRecord } from './types';

describe('parseRetryAfter', () => {
  it('reads seconds', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(' 0 ')).toBe(0);
  });
  it('reads an HTTP date', () => {
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    const s = parseRetryAfter(inTen) as number;
    expect(s).toBeGreaterThan(8);
    expect(s).toBeLessThanOrEqual(10);
  });
  it('ignores missing or unreadable values', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('')).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('listQuery', () => {
  it('leaves out empty parameters', () => {
    expect(listQuery({ search: '', group: 'S-3602', limit: 50, offset: 0, review_status: undefined })).toBe('group=S-3602&limit=50&offset=0');
  });
});

describe('etagOf', () => {
  it('prefers the header and falls back to the quoted version', () => {
    const r = { version: 4 } as ImageRecord;
    expect(etagOf(r, '"7"')).toBe('"7"');
    expect(etagOf(r)).toBe('"4"');
  });
});

describe('CSRF token and session end', () => {
  afterEach(() => {
    setCsrfToken(null);
    setUnauthorizedHandler(null);
    vi.unstubAllGlobals();
  });

  const answering = (status: number, body: unknown = {}) => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        return new Response(status === 204 ? null : JSON.stringify(body), { status });
      }),
    );
    return calls;
  };
  const header = (init: RequestInit, name: string) => (init.headers as Record<string, string>)[name];

  it('sends the token with every request that changes something, not with reads', async () => {
    const calls = answering(200, { id: 1, version: 2 });
    setCsrfToken('tok-1');
    await getConfig();
    await patchScores(1, '"1"', { scores: { a: 1 } });
    await deleteImage(1);
    await restoreImage(1);
    await putFinal(3, 1, { a: 1 }, 'agreed at the meeting');
    await createStudy({ name: 's', blinded: true, require_reason: false, readers: ['r1'] });
    expect(calls.map((c) => [c.init.method ?? 'GET', header(c.init, CSRF_HEADER)])).toEqual([
      ['GET', undefined],
      ['PATCH', 'tok-1'],
      ['DELETE', 'tok-1'],
      ['POST', 'tok-1'],
      ['PUT', 'tok-1'],
      ['POST', 'tok-1'],
    ]);
    // The caller's own headers stay.
    expect(header(calls[1]?.init as RequestInit, 'If-Match')).toBe('"1"');
    expect(JSON.parse(String(calls[4]?.init.body))).toEqual({ scores: { a: 1 }, reason: 'agreed at the meeting' });
  });

  it('sends no token before one is known, and forgets it', async () => {
    const calls = answering(204);
    await logout();
    setCsrfToken('tok-2');
    await logout();
    setCsrfToken(null);
    await logout();
    expect(calls.map((c) => header(c.init, CSRF_HEADER))).toEqual([undefined, 'tok-2', undefined]);
    expect(csrfHeaders('get')).toEqual({});
  });

  it('takes the renewed token from a password change', async () => {
    answering(200, { user: { name: 'bob', role: 'pathologist' }, csrf_token: 'renewed' });
    setCsrfToken('old');
    await changePassword('old password!', 'new password!');
    expect(getCsrfToken()).toBe('renewed');
  });

  it('reports a 401 as the end of the session, except for the login itself', async () => {
    const ended = vi.fn();
    setUnauthorizedHandler(ended);
    answering(401, { error: 'unauthorized', detail: 'log in first' });
    await expect(listStudies()).rejects.toMatchObject({ status: 401, message: 'log in first' });
    expect(ended).toHaveBeenCalledTimes(1);
    await expect(login('alice', 'wrong')).rejects.toMatchObject({ status: 401 });
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it('builds study paths and the read body', async () => {
    const calls = answering(200, {});
    await submitRead(7, 12, { a: 0.5 });
    await getRead('7', 12);
    expect(calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual(['POST /api/studies/7/images/12/read', 'GET /api/studies/7/images/12/read']);
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ scores: { a: 0.5 } });
    expect(studyUrls(7)).toEqual({
      agreementCsv: '/api/studies/7/agreement.csv',
      exportCsv: '/api/studies/7/export.csv',
      auditCsv: '/api/audit.csv?study_id=7',
    });
  });

  it('sends the token with uploads (XMLHttpRequest) too', async () => {
    const sent: Record<string, string> = {};
    class FakeXhr {
      status = 0;
      responseText = '';
      upload: { onprogress?: unknown } = {};
      onload: (() => void) | null = null;
      onerror: (() => void) | null = null;
      onabort: (() => void) | null = null;
      open() {}
      setRequestHeader(k: string, v: string) {
        sent[k] = v;
      }
      getResponseHeader() {
        return null;
      }
      send() {
        this.status = 201;
        this.responseText = JSON.stringify({ id: 5, version: 1 });
        this.onload?.();
      }
      abort() {}
    }
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    setCsrfToken('tok-3');
    const res = await uploadFile(Object.assign(new Blob(['x']), { name: 'a.tif' }), {}).promise;
    expect(res.ok).toBe(true);
    expect(sent[CSRF_HEADER]).toBe('tok-3');
  });
});

describe('models', () => {
  afterEach(() => {
    setCsrfToken(null);
    vi.unstubAllGlobals();
  });

  const answering = (status: number, body: unknown) => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        return new Response(JSON.stringify(body), { status });
      }),
    );
    return calls;
  };
  const entry = { id: '3f9c1e2a7b40', name: 'v2', active: false };

  it('imports as multipart with the token, and tells a new entry from an existing one', async () => {
    const calls = answering(201, entry);
    setCsrfToken('tok-m');
    const file = Object.assign(new Blob(['weights']), { name: 'model.safetensors' });
    const made = await importModel(file, 'pancreas v2');
    expect(made.created).toBe(true);
    expect(made.entry.id).toBe('3f9c1e2a7b40');
    const init = calls[0]?.init as RequestInit;
    expect(calls[0]?.url).toBe('/api/models');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)[CSRF_HEADER]).toBe('tok-m');
    // The browser sets the multipart Content-Type with its boundary.
    expect((init.headers as Record<string, string>)['Content-Type']).toBeUndefined();
    const form = init.body as FormData;
    expect((form.get('file') as File).name).toBe('model.safetensors');
    expect(form.get('name')).toBe('pancreas v2');

    answering(200, entry);
    const again = await importModel(file);
    expect(again.created).toBe(false);
  });

  it('refuses an unusable file with the server’s status and reason', async () => {
    answering(422, { error: 'not_a_model', detail: 'fc.weight has shape [3, 512]' });
    const file = Object.assign(new Blob(['x']), { name: 'model.pth' });
    await expect(importModel(file)).rejects.toMatchObject({ status: 422, message: 'fc.weight has shape [3, 512]' });
  });

  it('activates, rolls back and re-scores with the contract’s paths and bodies', async () => {
    const calls = answering(200, { ...entry, active: true, queued: 2 });
    setCsrfToken('tok-n');
    await activateModel('3f9c1e2a7b40', 'validated');
    await activateModel('3f9c1e2a7b40');
    await rollbackModel();
    await rescore([4, 9], '3f9c1e2a7b40');
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'POST /api/models/3f9c1e2a7b40/activate',
      'POST /api/models/3f9c1e2a7b40/activate',
      'POST /api/models/rollback',
      'POST /api/rescore',
    ]);
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ reason: 'validated' });
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual({});
    expect(JSON.parse(String(calls[3]?.init.body))).toEqual({ image_ids: [4, 9], model_id: '3f9c1e2a7b40' });
    expect(calls.every((c) => (c.init.headers as Record<string, string>)[CSRF_HEADER] === 'tok-n')).toBe(true);
    expect(modelUrls('3f9c1e2a7b40')).toEqual({
      safetensors: '/api/models/3f9c1e2a7b40/model.safetensors',
      onnx: '/api/models/3f9c1e2a7b40/model.onnx',
      evaluationCsv: '/api/models/3f9c1e2a7b40/evaluation.csv',
    });
  });

  it('sets and clears a model’s field on slides with PUT, JSON and the token', async () => {
    const calls = answering(200, { ...entry, field_um: [1000, 800] });
    setCsrfToken('tok-f');
    expect((await setModelField('3f9c1e2a7b40', [1000, 800])).field_um).toEqual([1000, 800]);
    await setModelField('3f9c1e2a7b40', null);
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual(['PUT /api/models/3f9c1e2a7b40/field', 'PUT /api/models/3f9c1e2a7b40/field']);
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ field_um: [1000, 800] });
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual({ field_um: null });
    const headers = calls[0]?.init.headers as Record<string, string>;
    expect(headers[CSRF_HEADER]).toBe('tok-f');
    expect(headers['Content-Type']).toBe('application/json');
  });

  it('refuses a field size with the server’s status and reason', async () => {
    answering(422, { error: 'invalid_value', detail: 'give the field’s width and height in µm', field: 'field_um' });
    await expect(setModelField('3f9c1e2a7b40', [0, 800])).rejects.toMatchObject({ status: 422, message: 'give the field’s width and height in µm' });
  });

  it('reads the drafts of an image', async () => {
    const d = { model_id: 'm', model_demo: false, raw_outputs: {}, rounded: { A: 1 }, uncertainty: null, created_at: 'x' };
    const calls = answering(200, [d]);
    expect(await getDrafts(7)).toEqual([d]);
    expect(calls[0]?.url).toBe('/api/images/7/drafts');
  });
});

describe('training', () => {
  afterEach(() => {
    setCsrfToken(null);
    vi.unstubAllGlobals();
  });

  it('starts, lists, polls and cancels with the contract’s paths, bodies and token', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const run = { id: 7, state: 'running', params: {}, progress: null, error: null, model_id: null, cancel_requested: false };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        return new Response(JSON.stringify(url === '/api/training' && init.method !== 'POST' ? [run] : run), { status: init.method === 'POST' && url === '/api/training' ? 202 : 200 });
      }),
    );
    setCsrfToken('tok-t');
    expect((await startTraining({ seed: 42, epochs: 300, val_fraction: 0.2, name: 'v3' })).id).toBe(7);
    expect(await listTrainingRuns()).toHaveLength(1);
    expect((await getTrainingRun(7)).state).toBe('running');
    await cancelTrainingRun(7);
    expect(calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      'POST /api/training',
      'GET /api/training',
      'GET /api/training/7',
      'POST /api/training/7/cancel',
    ]);
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ seed: 42, epochs: 300, val_fraction: 0.2, name: 'v3' });
    const header = (i: number) => (calls[i]?.init.headers as Record<string, string>)[CSRF_HEADER];
    expect(header(0)).toBe('tok-t');
    expect(header(1)).toBeUndefined();
    expect(header(3)).toBe('tok-t');
  });
});

describe('retraining', () => {
  afterEach(() => {
    setCsrfToken(null);
    vi.unstubAllGlobals();
  });

  it('reads and sets the policy, runs it, and the evaluation set and comparisons, with the contract’s paths, bodies and token', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const view = { set: null, members: [], evaluation_images: 0, training_images: 7, min_images: 20, min_groups: 5 };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        if (url === '/api/models/evaluation-set' && init.method !== 'PUT') return new Response(JSON.stringify(view), { status: 200 });
        if (url.endsWith('/evaluations')) return new Response('[]', { status: 200 });
        return new Response(JSON.stringify({ id: 3 }), { status: url.endsWith('/policy/run') ? 202 : 200 });
      }),
    );
    setCsrfToken('tok-r');
    const policy = { after_reviewed: 5, every_hours: null, head_only: false, layers: ['layer3', 'layer4', 'fc'], auto_promote: false, metrics: [] };
    await getRetrainPolicy();
    await setRetrainPolicy(policy);
    expect((await runRetrainPolicy()).id).toBe(3);
    expect(await getEvaluationSet()).toEqual(view);
    await setEvaluationSet({ share: 0.25, groups: ['S-1', 'S-2'], reshuffle: true, reason: 'a new cohort' });
    expect(await listModelEvaluations('ab/c')).toEqual([]);
    await evaluateModel('3f9c1e2a7b40');
    expect(calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      'GET /api/models/policy',
      'PUT /api/models/policy',
      'POST /api/models/policy/run',
      'GET /api/models/evaluation-set',
      'PUT /api/models/evaluation-set',
      'GET /api/models/ab%2Fc/evaluations',
      'POST /api/models/3f9c1e2a7b40/evaluate',
    ]);
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual(policy);
    expect(JSON.parse(String(calls[4]?.init.body))).toEqual({ share: 0.25, groups: ['S-1', 'S-2'], reshuffle: true, reason: 'a new cohort' });
    const header = (i: number) => (calls[i]?.init.headers as Record<string, string>)[CSRF_HEADER];
    expect(header(0)).toBeUndefined();
    expect([1, 2, 4, 6].map(header)).toEqual(['tok-r', 'tok-r', 'tok-r', 'tok-r']);
  });

  it('refuses a policy run while training runs, with the server’s reason', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: 'training_in_progress', detail: 'a training run is in progress' }), { status: 409 })));
    await expect(runRetrainPolicy()).rejects.toMatchObject({ status: 409, message: 'a training run is in progress' });
  });
});
