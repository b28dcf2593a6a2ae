import { useEffect, useRef } from 'react';

/**
 * A `<dialog>` shown modally while the component is mounted. No close() on cleanup: its close
 * event would arrive after StrictMode's second mount; unmounting removes the element, which
 * ends the modal state.
 */
export function useModalDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return ref;
}
