import { applyDecorators, HttpCode } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import type { StandardSchemaV1 } from '@standard-schema/spec';

/** Documents an operation and its success response from the contract schema it returns. */
export function Operation(summary: string, response: { status: number; schema?: StandardSchemaV1 }) {
  return applyDecorators(
    ApiOperation({ summary }),
    HttpCode(response.status),
    ApiResponse(
      response.schema
        ? { status: response.status, description: 'Success', standardSchema: response.schema }
        : { status: response.status, description: 'Success' },
    ),
  );
}
