// The app's pages by path (the router itself is lib/router.tsx: the History API only).

export type Route =
  | { page: 'score' }
  | { page: 'history' }
  | { page: 'compare' }
  | { page: 'studies' }
  | { page: 'new-study' }
  | { page: 'study'; id: string }
  | { page: 'models' }
  | { page: 'users' };

export function matchRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean);
  const [first, second, third] = parts;
  if (first === 'history') return { page: 'history' };
  if (first === 'compare') return { page: 'compare' };
  if (first === 'users') return { page: 'users' };
  if (first === 'models') return { page: 'models' };
  if (first === 'studies') {
    if (second === undefined) return { page: 'studies' };
    if (second === 'new' && third === undefined) return { page: 'new-study' };
    if (third === undefined) return { page: 'study', id: decodeURIComponent(second) };
    return { page: 'studies' };
  }
  return { page: 'score' };
}

export const PAGE_TITLES: Record<Route['page'], string> = {
  score: 'Score',
  history: 'History',
  compare: 'Side by side',
  studies: 'Studies',
  'new-study': 'New study',
  study: 'Study',
  models: 'Models',
  users: 'Users',
};

export type StudyTab = 'read' | 'adjudicate' | 'agreement';

export function studyHref(id: string | number, tab?: StudyTab, image?: number | null): string {
  const q = new URLSearchParams();
  if (tab) q.set('tab', tab);
  if (image != null) q.set('image', String(image));
  const s = q.toString();
  return `/studies/${encodeURIComponent(String(id))}${s ? `?${s}` : ''}`;
}

/** Where one image opens for review at full resolution: the History's review panel with the zoomable viewer. */
export function reviewHref(imageId: number): string {
  return `/history?open=${imageId}`;
}
