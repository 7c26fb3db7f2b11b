import type { ReactNode } from 'react';
import './Facts.css';

export interface Fact {
  label: string;
  value: ReactNode;
  testId?: string;
}

/** A row of labelled values at the top of a detail page (status, counts, dates). */
export function Facts({ facts, testId }: { facts: Fact[]; testId?: string }) {
  return (
    <dl className="facts" data-testid={testId}>
      {facts.map((fact) => (
        <div key={fact.label}>
          <dt>{fact.label}</dt>
          <dd data-testid={fact.testId}>{fact.value}</dd>
        </div>
      ))}
    </dl>
  );
}
