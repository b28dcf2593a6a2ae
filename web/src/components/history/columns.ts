// Which history columns show at which width of the table (container queries: the table's own
// width, whether or not the review panel is open). The thumbnail, file name, review state and
// total always show; the rest give way in this order: upload time, last change, group, status,
// id, serial, and last the metrics (below 48rem, e.g. beside the open review panel, which shows
// them).

export const COL = {
  metric: 'hidden @3xl:table-cell',
  serial: 'hidden @5xl:table-cell',
  id: 'hidden @6xl:table-cell',
  status: 'hidden @6xl:table-cell',
  /** The status beside the file name while its column is hidden. */
  statusInline: 'ml-1 @6xl:hidden',
  group: 'hidden @6xl:table-cell',
  changed: 'hidden @min-[92rem]:table-cell',
  uploaded: 'hidden @min-[104rem]:table-cell',
} as const;
