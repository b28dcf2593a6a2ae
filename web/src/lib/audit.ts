// The audit log in sentences (“Fibrosis changed from 1.0 to 3.0 by dr. Jones: too much
// stroma”), and who did a change in words: a person's name, “you” in single-user mode, or
// “AI (model name)” for a model's draft. Pure functions.

import type { AuditEntry } from '../api/types';
import { shortId } from './format';

/** Model names by id (the registry), for “AI (Pancreas v1)”. */
export type ModelNames = ReadonlyMap<string, string>;

const LOCAL_USER = 'local';

/** Who made a change, in words: `model:ID` → “AI (name)”, `local` → “you”, `worker:…` → “the scoring service”. */
export function actorLabel(actor: string | null | undefined, models: ModelNames = new Map()): string {
  if (!actor) return 'someone';
  if (actor === LOCAL_USER) return 'you';
  const colon = actor.indexOf(':');
  if (colon > 0) {
    const kind = actor.slice(0, colon);
    const rest = actor.slice(colon + 1);
    if (kind === 'model') return aiLabel(rest, models);
    if (kind === 'worker') return 'the scoring service';
    if (kind === 'system') return 'the server';
  }
  return actor;
}

/** “AI (Pancreas v1)”, or “AI (model 1a2b3c4d5e6f)” when the registry does not name it. */
export function aiLabel(modelId: string | null | undefined, models: ModelNames = new Map()): string {
  if (!modelId) return 'AI';
  const name = models.get(modelId)?.trim();
  return `AI (${name || `model ${shortId(modelId)}`})`;
}

/** A stored value as shown: scores with the schema's decimals (at least one: “1.0”), text as is. */
export function formatAuditValue(v: string | null | undefined, decimals = 1): string {
  if (v == null || v === '') return '–';
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) return n.toFixed(Math.max(1, decimals));
  return v;
}

/** Decimals of the schema's step (0.5 → 1, 0.25 → 2). */
export function stepDecimals(step: number): number {
  if (!Number.isFinite(step) || step <= 0) return 1;
  const t = String(step);
  const dot = t.indexOf('.');
  return dot < 0 ? 0 : Math.min(4, t.length - dot - 1);
}

const capital = (s: string) => (s ? `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}` : s);

/** One audit entry as a sentence (without the time). */
export function auditSentence(e: AuditEntry, models: ModelNames = new Map(), decimals = 1): string {
  const who = actorLabel(e.actor, models);
  const field = e.field ?? 'the score';
  const from = e.old_value == null || e.old_value === '' ? null : formatAuditValue(e.old_value, decimals);
  const to = e.new_value == null || e.new_value === '' ? null : formatAuditValue(e.new_value, decimals);
  const change = (verb = 'changed') =>
    from != null && to != null ? `${field} ${verb} from ${from} to ${to}` : to != null ? `${field} set to ${to}` : `${field} cleared`;
  const study = e.study_id != null ? ` in study ${e.study_id}` : '';
  let text: string;
  switch (e.action) {
    case 'create':
      text = `uploaded by ${who}`;
      break;
    case 'score':
    case 'ai_score':
      text = `${change()} by ${who}`;
      break;
    case 'review':
      text = `${e.new_value === 'reviewed' ? 'marked reviewed' : 'marked not reviewed'} by ${who}`;
      break;
    case 'scored':
      text = `scored by ${who}`;
      break;
    case 'failed':
      // The engine's error is technical: the sentence says what it means.
      return 'The AI could not score this image.';
    case 'rescore':
      text = `sent for re-scoring by ${who}`;
      break;
    case 'delete':
      text = `deleted by ${who}`;
      break;
    case 'restore':
      text = `restored by ${who}`;
      break;
    case 'blind_score':
      text = `${field}: blind score ${to ?? '–'} by ${who}${study}`;
      break;
    case 'reader_score':
      text = `${field} scored ${to ?? '–'} by ${who}${study}`;
      break;
    case 'reader_revise':
      text = `${change('revised')} by ${who} after seeing the AI draft${study}`;
      break;
    case 'adjudicate':
      text = `final ${change()} by ${who} (adjudication${study})`;
      break;
    default:
      text = `${String(e.action).replaceAll('_', ' ')}${e.field ? ` of ${field}` : ''} by ${who}`;
  }
  const reason = e.reason?.trim();
  return capital(reason ? `${text}: ${reason}` : text);
}
