import { Module } from '@nestjs/common';
import { CompositionsController } from './compositions.controller.js';
import { CompositionsService } from './compositions.service.js';

@Module({ controllers: [CompositionsController], providers: [CompositionsService] })
export class CompositionsModule {}
