import { Injectable } from '@nestjs/common';

/** Wall-clock time behind a class, so liveness logic can be tested with a clock the test controls. */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
