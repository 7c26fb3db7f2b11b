import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  window.location.hash = '';
});

// jsdom lays nothing out and has no scrollIntoView; the heatmap calls it to keep the chosen token in view.
Element.prototype.scrollIntoView ??= () => undefined;
