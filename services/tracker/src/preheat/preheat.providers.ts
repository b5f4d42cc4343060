import type { Provider } from '@nestjs/common';
import { PreheatRunner } from './preheat.runner';
import { PreheatService } from './preheat.service';
import { PreheatStore } from './preheat.store';

/** Preheat jobs (issue 14): every tracker serves them and runs its share. */
export function preheatProviders(): Provider[] {
  return [PreheatStore, PreheatService, PreheatRunner];
}
