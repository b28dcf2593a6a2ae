import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { canScore, effectiveUser, isAdmin, LOCAL_USER, loginErrorMessage, passwordProblem, userErrorMessage, waitText } from './roles';
import { matchRoute, studyHref } from './routes';

describe('roles', () => {
  it('viewers read, pathologists score, admins manage', () => {
    expect([canScore('viewer'), canScore('pathologist'), canScore('admin')]).toEqual([false, true, true]);
    expect([isAdmin('viewer'), isAdmin('pathologist'), isAdmin('admin')]).toEqual([false, false, true]);
  });
  it('single-user mode works as local; accounts mode without a user logs in first', () => {
    expect(effectiveUser({ mode: 'single-user', user: null, csrf_token: 't' })).toEqual(LOCAL_USER);
    expect(effectiveUser({ mode: 'single-user', user: { name: 'local', role: 'admin' }, csrf_token: 't' })).toEqual(LOCAL_USER);
    expect(effectiveUser({ mode: 'accounts', user: null, csrf_token: null })).toBeNull();
    expect(effectiveUser({ mode: 'accounts', user: { name: 'bob', role: 'viewer' }, csrf_token: 'x' })).toEqual({ name: 'bob', role: 'viewer' });
  });
});

describe('messages', () => {
  it('says how long to wait after too many logins', () => {
    const e = new ApiError(429, { error: 'too_many_attempts', detail: 'too many failed logins' }, 42);
    expect(loginErrorMessage(e)).toBe('Too many failed logins. Try again in 42 s.');
    expect(loginErrorMessage(new ApiError(429, { error: 'x', detail: 'x' }, 900))).toBe('Too many failed logins. Try again in 15 min.');
    expect(loginErrorMessage(new ApiError(429, { error: 'x', detail: 'x' }))).toMatch(/Wait a few minutes/);
    expect(waitText(0.2)).toBe('1 s');
  });
  it('words a refused login with the server’s reason', () => {
    const e = new ApiError(401, { error: 'unauthorized', detail: 'wrong user name or password (or the account is disabled)' });
    expect(loginErrorMessage(e)).toBe('Wrong user name or password (or the account is disabled). Check both (the password is case-sensitive) and try again.');
    expect(loginErrorMessage(new ApiError(401, { error: 'http_401', detail: 'the server answered HTTP 401' }))).toMatch(/^Wrong name or password\. Check both/);
    expect(loginErrorMessage(new ApiError(0, { error: 'network', detail: 'x' }))).toMatch(/could not be reached/);
  });
  it('explains the password rule and the last-admin rule', () => {
    expect(passwordProblem('short')).toBe('The password needs at least 10 characters (it has 5).');
    expect(passwordProblem('long enough!', 'long enough?')).toMatch(/differ/);
    expect(passwordProblem('long enough!', 'long enough!')).toBeNull();
    const last = new ApiError(409, { error: 'conflict', detail: 'alice is the last active administrator' });
    expect(userErrorMessage(last)).toMatch(/^alice is the last active administrator \(there must always be/);
    expect(userErrorMessage(new ApiError(409, { error: 'conflict', detail: 'bob exists' }), 'create')).toBe('bob exists (choose another name).');
  });
});

describe('routes', () => {
  it('maps paths to pages', () => {
    expect(matchRoute('/')).toEqual({ page: 'score' });
    expect(matchRoute('/history')).toEqual({ page: 'history' });
    expect(matchRoute('/users')).toEqual({ page: 'users' });
    expect(matchRoute('/models')).toEqual({ page: 'models' });
    expect(matchRoute('/studies')).toEqual({ page: 'studies' });
    expect(matchRoute('/studies/new')).toEqual({ page: 'new-study' });
    expect(matchRoute('/studies/12')).toEqual({ page: 'study', id: '12' });
    expect(matchRoute('/studies/12/')).toEqual({ page: 'study', id: '12' });
    expect(matchRoute('/nowhere')).toEqual({ page: 'score' });
  });
  it('builds study links', () => {
    expect(studyHref(3)).toBe('/studies/3');
    expect(studyHref(3, 'read', 17)).toBe('/studies/3?tab=read&image=17');
    expect(studyHref(3, 'agreement', null)).toBe('/studies/3?tab=agreement');
  });
});
