import { groupOf, type ImageList } from '../../api/types';
import { useConfig } from '../../lib/config';
import { card } from '../ui';

export function GroupSummary({ list }: { list: ImageList | null }) {
  const { schema } = useConfig();
  const groups = list?.groups ?? [];
  return (
    <section className={card} aria-labelledby="groups-title" data-testid="group-summary">
      <h2 id="groups-title" className="border-b border-slate-200 px-4 py-3 font-semibold dark:border-slate-800">
        Per-group summary <span className="text-sm font-normal text-slate-500 dark:text-slate-400">(groups on this page, over all their records that match the filters; mean of current scores)</span>
      </h2>
      {groups.length === 0 ? (
        <p className="px-4 py-4 text-sm text-slate-500 dark:text-slate-400">No groups.</p>
      ) : (
        <div className="relative overflow-x-auto">
          <table className="w-full text-sm">
            <thead className="text-left text-xs uppercase tracking-wide text-slate-500 dark:text-slate-400">
              <tr>
                <th scope="col" className="px-4 py-2">
                  Group
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Images
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Reviewed
                </th>
                {schema.metrics.map((m) => (
                  <th key={m.name} scope="col" className="px-3 py-2 text-right">
                    {m.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={groupOf(g)} className="border-t border-slate-100 dark:border-slate-800">
                  <th scope="row" className="px-4 py-1.5 text-left font-medium whitespace-nowrap">
                    {groupOf(g) || '–'}
                  </th>
                  <td className="px-3 py-1.5 text-right tabular-nums">{g.count}</td>
                  <td className="px-3 py-1.5 text-right tabular-nums">{g.reviewed ?? '–'}</td>
                  {schema.metrics.map((m) => {
                    const v = g.means?.[m.name];
                    return (
                      <td key={m.name} className="px-3 py-1.5 text-right tabular-nums">
                        {v == null ? '–' : v.toFixed(2)}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
