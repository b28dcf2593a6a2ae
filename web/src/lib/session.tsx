import { createContext, useContext } from 'react';
import type { SessionMode, SessionUser } from '../api/types';

export interface SessionValue {
  mode: SessionMode;
  user: SessionUser;
  /** Ends the session on the server and shows the login page. */
  logout: () => Promise<void>;
  /** Asks the server again who is logged in (after changing one's own role). */
  refresh: () => Promise<void>;
}

export const SessionContext = createContext<SessionValue | null>(null);

/** The logged-in user (`local` in single-user mode); only used below the point where it is known. */
export function useSession(): SessionValue {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionContext');
  return s;
}
