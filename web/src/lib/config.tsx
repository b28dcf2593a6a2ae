import { createContext, useContext } from 'react';
import type { AppConfig } from '../api/types';

export const ConfigContext = createContext<AppConfig | null>(null);

/** The server's config; only used below the point where it has loaded. */
export function useConfig(): AppConfig {
  const c = useContext(ConfigContext);
  if (!c) throw new Error('useConfig outside ConfigContext');
  return c;
}
