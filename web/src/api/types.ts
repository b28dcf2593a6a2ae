// Shapes of the review server's JSON (see issue 4 / the server crate). Fields the server may add
// later are optional so an older or newer server still renders.

export interface Metric {
  name: string;
  max: number;
}

export interface Schema {
  name: string;
  step: number;
  metrics: Metric[];
}

export interface ModelInfo {
  id: string;
  demo: boolean;
  engine?: string;
}

export interface AppConfig {
  version: string;
  schema: Schema;
  model: ModelInfo;
  max_upload_bytes?: number;
}

export type ImageStatus = 'queued' | 'scoring' | 'scored' | 'failed';
export type ReviewStatus = 'unreviewed' | 'reviewed';

export interface Draft {
  model_id: string;
  model_demo: boolean;
  raw_outputs: Record<string, number>;
  rounded: Record<string, number>;
  created_at: string;
}

export interface ImageRecord {
  id: number;
  filename: string;
  serial: string | null;
  /** `group` per the API contract; the store currently serialises it as `group_name`. */
  group?: string | null;
  group_name?: string | null;
  image_number: number | null;
  sha256: string;
  size_bytes: number;
  width: number | null;
  height: number | null;
  format: string | null;
  status: ImageStatus;
  error: string | null;
  review_status: ReviewStatus;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string;
  deleted_at: string | null;
  draft: Draft | null;
  scores: Record<string, number>;
}

export function groupOf(r: Pick<ImageRecord, 'group' | 'group_name'>): string {
  return r.group ?? r.group_name ?? '';
}

export interface GroupSummary {
  group?: string | null;
  group_name?: string | null;
  count: number;
  reviewed?: number;
  means?: Record<string, number | null>;
}

export interface ImageList {
  items: ImageRecord[];
  total: number;
  groups: GroupSummary[];
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  image_id: number;
  action: string;
  field: string | null;
  old_value: string | number | null;
  new_value: string | number | null;
  reason: string | null;
}

export interface ApiErrorBody {
  error: string;
  detail: string;
  field?: string;
  allowed?: { min: number; max: number; step: number } | null;
  current?: ImageRecord;
  existing_sha256?: string;
  uploaded_sha256?: string;
  existing_id?: number;
  [key: string]: unknown;
}

export interface ImageEvent {
  id: number;
  status?: string;
  version?: number;
  deleted?: boolean;
}
