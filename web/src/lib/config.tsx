import { createContext, useContext } from 'react';
import type { AppConfig } from '../api/types';

export const ConfigContext = createContext<AppConfig | null>(null);

/** The server's config; only used below the point where it has loaded. */
export function useConfig(): AppConfig {
  const c = useContext(ConfigContext);
  if (!c) throw new Error('useConfig outside ConfigContext');
  return c;
}

/** Asks the server for its config again (after a model activation: the header shows the active model). */
export const ConfigReloadContext = createContext<() => void>(() => {});

export function useReloadConfig(): () => void {
  return useContext(ConfigReloadContext);
}
