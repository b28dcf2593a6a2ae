// Two images side by side (pages/ComparePage.tsx): where each viewer looks, in coordinates of the
// image itself, passed to the other so that panning, zooming or turning one moves the other the
// same way; and the page's address. Pure functions and a tiny channel (no React).

/**
 * A view in image-normalised terms: the centre as a share of the image's width and height (0.5,
 * 0.5 is the middle), the zoom as OpenSeadragon counts it (the view's width over the image's
 * width: 1 shows the whole width), and the rotation in degrees.
 */
export interface SharedView {
  x: number;
  y: number;
  zoom: number;
  rotation: number;
}

/**
 * OpenSeadragon's viewport coordinates → the shared view. In the viewport the image is one unit
 * wide and `aspect` (height / width) units tall.
 */
export function toShared(centerX: number, centerY: number, zoom: number, rotation: number, aspect: number): SharedView {
  return { x: centerX, y: aspect > 0 ? centerY / aspect : centerY, zoom, rotation };
}

/** The shared view → the centre in this image's viewport coordinates. */
export function fromShared(v: SharedView, aspect: number): { x: number; y: number } {
  return { x: v.x, y: v.y * (aspect > 0 ? aspect : 1) };
}

/** Whether two views are the same (within rounding): no need to pass it on again. */
export function sameView(a: SharedView | null, b: SharedView | null, eps = 1e-6): boolean {
  if (!a || !b) return false;
  return Math.abs(a.x - b.x) <= eps && Math.abs(a.y - b.y) <= eps && Math.abs(a.zoom - b.zoom) <= eps * Math.max(1, Math.abs(a.zoom)) && Math.abs(a.rotation - b.rotation) <= 1e-3;
}

export type Side = 'a' | 'b';

interface Member {
  apply: (v: SharedView) => void;
  current: () => SharedView | null;
}

/**
 * The channel between the two viewers of the page: each one publishes its view as it moves, the
 * other applies it at once. While `linked` is off, each moves alone; turning it on again brings
 * the right-hand one to the left-hand one's view.
 */
export class ViewSync {
  private members = new Map<Side, Member>();
  private linked = true;

  join(side: Side, member: Member): () => void {
    this.members.set(side, member);
    return () => {
      if (this.members.get(side) === member) this.members.delete(side);
    };
  }

  publish(from: Side, view: SharedView): void {
    if (!this.linked) return;
    for (const [side, m] of this.members) if (side !== from) m.apply(view);
  }

  /** The other side's view now (for a viewer that opens after it), or null. */
  peer(side: Side): SharedView | null {
    if (!this.linked) return null;
    for (const [s, m] of this.members) if (s !== side) return m.current();
    return null;
  }

  isLinked(): boolean {
    return this.linked;
  }

  setLinked(on: boolean): void {
    this.linked = on;
    if (!on) return;
    const a = this.members.get('a')?.current();
    if (a) this.members.get('b')?.apply(a);
  }
}

// ---- The page's address: /compare?a=ID&b=ID&back=PATH ----

export interface CompareTarget {
  a: number | null;
  b: number | null;
  /** Where Close goes (a path of this app); the History by default. */
  back: string;
}

const idOf = (v: string | null): number | null => {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : null;
};

/** Only a path of this app (no other site): "/history?…", not "//evil" or "https://…". */
function safeBack(v: string | null): string {
  return v && v.startsWith('/') && !v.startsWith('//') && !v.startsWith('/\\') ? v : '/history';
}

export function readCompare(search: string): CompareTarget {
  const q = new URLSearchParams(search);
  return { a: idOf(q.get('a')), b: idOf(q.get('b')), back: safeBack(q.get('back')) };
}

export function compareHref(a: number, b: number, back?: string): string {
  const q = new URLSearchParams({ a: String(a), b: String(b) });
  if (back && back !== '/history') q.set('back', safeBack(back));
  return `/compare?${q.toString()}`;
}
