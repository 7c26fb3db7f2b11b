import { Module } from '@nestjs/common';
import { PrincipalsController } from './principals.controller.js';
import { PrincipalsService } from './principals.service.js';

@Module({ controllers: [PrincipalsController], providers: [PrincipalsService] })
export class PrincipalsModule {}
