import { useEffect, useState, type ReactNode } from 'react';

// Hash routes (#/datasets/ds_…): the gateway serves one index.html and needs no fallback route.
const currentPath = () => window.location.hash.replace(/^#/, '') || '/';

/** The route's path segments, e.g. ['datasets', 'ds_123'] for #/datasets/ds_123. */
export function useRoute(): string[] {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onChange = () => setPath(currentPath());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return path.split('/').filter(Boolean).map(decodeSegment);
}

/** A hand-typed bad escape (#/datasets/%E0) stays as typed rather than throwing. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function navigate(to: string): void {
  window.location.hash = to;
}

/** `current`: the link to the page shown, marked for assistive technology (aria-current) and styled by it. */
export function Link({
  to,
  children,
  className,
  current,
}: {
  to: string;
  children: ReactNode;
  className?: string;
  current?: boolean;
}) {
  return (
    <a href={`#${to}`} className={className} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}
