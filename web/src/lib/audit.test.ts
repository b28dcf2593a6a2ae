import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../api/types';
import { actorLabel, aiLabel, auditSentence, formatAuditValue, stepDecimals } from './audit';

const models = new Map([['abc123def4567890', 'Pancreas v1']]);
const entry = (e: Partial<AuditEntry>): AuditEntry => ({ id: 1, at: '2025-11-29T10:00:00Z', actor: 'local', action: 'score', ...e });

describe('actorLabel', () => {
  it('names people, the AI and the machinery', () => {
    expect(actorLabel('dr. Jones')).toBe('dr. Jones');
    expect(actorLabel('local')).toBe('you');
    expect(actorLabel('model:abc123def4567890', models)).toBe('AI (Pancreas v1)');
    expect(actorLabel('model:ffff0000ffff0000ffff')).toBe('AI (model ffff0000ffff)');
    expect(actorLabel('worker:w-1')).toBe('the scoring service');
    expect(actorLabel('system:requeue')).toBe('the server');
    expect(actorLabel('')).toBe('someone');
    expect(aiLabel(null)).toBe('AI');
  });
});

describe('auditSentence', () => {
  it('a correction with its reason', () => {
    const e = entry({ actor: 'dr. Jones', field: 'Fibrosis', old_value: '1', new_value: '3', reason: 'too much stroma' });
    expect(auditSentence(e, models)).toBe('Fibrosis changed from 1.0 to 3.0 by dr. Jones: too much stroma');
  });
  it('the AI draft', () => {
    expect(auditSentence(entry({ action: 'ai_score', actor: 'model:abc123def4567890', field: 'Fibrosis', new_value: '2' }), models)).toBe(
      'Fibrosis set to 2.0 by AI (Pancreas v1)',
    );
    expect(auditSentence(entry({ action: 'scored', actor: 'model:abc123def4567890', field: 'status' }), models)).toBe('Scored by AI (Pancreas v1)');
  });
  it('review, upload, delete, restore, failure', () => {
    expect(auditSentence(entry({ action: 'review', field: 'review_status', old_value: 'unreviewed', new_value: 'reviewed' }))).toBe('Marked reviewed by you');
    expect(auditSentence(entry({ action: 'review', new_value: 'unreviewed' }))).toBe('Marked not reviewed by you');
    expect(auditSentence(entry({ action: 'create', field: 'filename', new_value: 'a.tif' }))).toBe('Uploaded by you');
    expect(auditSentence(entry({ action: 'delete', actor: 'ann', reason: 'wrong slide' }))).toBe('Deleted by ann: wrong slide');
    expect(auditSentence(entry({ action: 'restore', actor: 'ann' }))).toBe('Restored by ann');
    expect(auditSentence(entry({ action: 'failed', actor: 'worker:1', reason: 'ort: shape mismatch [1,3]' }))).toBe('The AI could not score this image.');
    expect(auditSentence(entry({ action: 'rescore', actor: 'ann' }))).toBe('Sent for re-scoring by ann');
  });
  it('study actions name the study', () => {
    expect(auditSentence(entry({ action: 'blind_score', actor: 'r1', field: 'Fibrosis', new_value: '1.5', study_id: 4 }))).toBe(
      'Fibrosis: blind score 1.5 by r1 in study 4',
    );
    expect(auditSentence(entry({ action: 'reader_revise', actor: 'r1', field: 'Fibrosis', old_value: '1.5', new_value: '2', study_id: 4 }))).toBe(
      'Fibrosis revised from 1.5 to 2.0 by r1 after seeing the AI draft in study 4',
    );
    expect(auditSentence(entry({ action: 'adjudicate', actor: 'admin', field: 'Fibrosis', new_value: '2', study_id: 4, reason: 'consensus' }))).toBe(
      'Final Fibrosis set to 2.0 by admin (adjudication in study 4): consensus',
    );
  });
  it('values with the schema’s decimals', () => {
    expect(formatAuditValue('0.25', 2)).toBe('0.25');
    expect(formatAuditValue('reviewed')).toBe('reviewed');
    expect(formatAuditValue(null)).toBe('–');
    expect(stepDecimals(0.5)).toBe(1);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(1)).toBe(0);
  });
});
