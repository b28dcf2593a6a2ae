// Fetching the next image ahead while the person reads this one: its record, its preview and
// the deep-zoom tiles the viewer shows first. The server marks media immutable, so the browser's
// cache serves them when “Mark reviewed & next” opens the image.

import { imageUrls } from '../api/client';
import { getEntry, refreshRecord } from './records';
import { firstTiles, parseDzi } from './viewer';

const fetched = new Set<number>();
/** Images kept alive until they load (an Image nobody holds may be collected early). */
const pending = new Set<HTMLImageElement>();

function warm(url: string): void {
  const img = new Image();
  img.decoding = 'async';
  const drop = () => pending.delete(img);
  img.onload = drop;
  img.onerror = drop;
  pending.add(img);
  img.src = url;
}

/** Starts fetching image `id` (once per page). */
export function prefetchImage(id: number): void {
  if (fetched.has(id) || typeof Image === 'undefined') return;
  fetched.add(id);
  const urls = imageUrls(id);
  if (!getEntry(id)) void refreshRecord(id);
  warm(urls.preview);
  void fetch(urls.dzi, { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.text() : ''))
    .then((xml) => {
      const info = parseDzi(xml);
      if (!info) return;
      const base = urls.dzi.replace(/\.dzi$/, '_files/');
      for (const tile of firstTiles(info)) warm(base + tile);
    })
    .catch(() => {
      // Fetching ahead is a bonus: the viewer asks again when the image opens.
    });
}
