import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import { type ErrorBody, toErrorBody } from '../errors';

/** Keeps our {code, message} through Nest, which would otherwise reduce every error to "Internal server error". */
@Catch()
export class SwarmRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<ErrorBody> {
    return throwError(() => toErrorBody(exception));
  }
}
