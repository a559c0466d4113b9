-- CreateEnum
CREATE TYPE "StudentStatus" AS ENUM ('ACTIVE', 'INACTIVE', 'SUSPENDED', 'GRADUATED');

-- CreateEnum
CREATE TYPE "PaymentStatus" AS ENUM ('PAID', 'PENDING', 'OVERDUE', 'REFUNDED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "RequestStatus" AS ENUM ('SUBMITTED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'COMPLETED');

-- CreateEnum
CREATE TYPE "BtecGrade" AS ENUM ('DISTINCTION', 'MERIT', 'PASS', 'REFER');

-- CreateEnum
CREATE TYPE "SyncSource" AS ENUM ('ZOHO', 'MOODLE');

-- CreateEnum
CREATE TYPE "IngestStatus" AS ENUM ('CREATED', 'UPDATED', 'UNCHANGED', 'DELETED', 'DUPLICATE', 'STALE', 'PARKED', 'REJECTED');

-- CreateTable
CREATE TABLE "Tenant" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "webhookSecret" TEXT NOT NULL,
    "zohoChannelToken" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Tenant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Student" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "moodleUserId" TEXT,
    "studentNumber" TEXT,
    "fullName" TEXT NOT NULL,
    "firstName" TEXT,
    "lastName" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "city" TEXT,
    "country" TEXT,
    "status" "StudentStatus" NOT NULL DEFAULT 'ACTIVE',
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "moodleUpdatedAt" TIMESTAMPTZ(3),
    "moodleFingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Student_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Teacher" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "moodleUserId" TEXT,
    "name" TEXT,
    "fullName" TEXT NOT NULL,
    "email" TEXT,
    "status" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "moodleUpdatedAt" TIMESTAMPTZ(3),
    "moodleFingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Teacher_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Program" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "name" TEXT NOT NULL,
    "code" TEXT,
    "level" TEXT,
    "durationMonths" INTEGER,
    "status" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Program_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Unit" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "programId" UUID,
    "code" TEXT,
    "name" TEXT NOT NULL,
    "credits" INTEGER,
    "level" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Unit_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Class" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "moodleCourseId" TEXT,
    "name" TEXT NOT NULL,
    "code" TEXT,
    "unitId" UUID,
    "programId" UUID,
    "teacherId" UUID,
    "startDate" DATE,
    "endDate" DATE,
    "schedule" TEXT,
    "status" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Class_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Enrollment" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "moodleEnrollmentId" TEXT,
    "name" TEXT,
    "studentId" UUID NOT NULL,
    "classId" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "startDate" DATE,
    "endDate" DATE,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "moodleUpdatedAt" TIMESTAMPTZ(3),
    "moodleFingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Enrollment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Registration" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "name" TEXT,
    "studentId" UUID NOT NULL,
    "programId" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "registrationDate" DATE,
    "startDate" DATE,
    "endDate" DATE,
    "totalFees" DECIMAL(12,2),
    "currency" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Registration_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Payment" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "name" TEXT,
    "studentId" UUID NOT NULL,
    "registrationId" UUID,
    "amount" DECIMAL(12,2) NOT NULL,
    "currency" TEXT,
    "status" "PaymentStatus" NOT NULL,
    "dueDate" DATE,
    "paidAt" DATE,
    "method" TEXT,
    "reference" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Payment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "StudentRequest" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "name" TEXT,
    "studentId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "subject" TEXT,
    "description" TEXT,
    "status" "RequestStatus" NOT NULL,
    "submittedAt" TIMESTAMPTZ(3),
    "resolvedAt" TIMESTAMPTZ(3),
    "response" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "StudentRequest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Grade" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "zohoId" TEXT,
    "moodleGradeId" TEXT,
    "compositeKey" TEXT NOT NULL,
    "name" TEXT,
    "studentId" UUID NOT NULL,
    "unitId" UUID,
    "classId" UUID,
    "assignmentName" TEXT,
    "score" DOUBLE PRECISION,
    "btecGrade" "BtecGrade",
    "attemptNumber" INTEGER,
    "gradedAt" TIMESTAMPTZ(3),
    "feedback" TEXT,
    "graderName" TEXT,
    "graderMoodleId" TEXT,
    "internalVerifierName" TEXT,
    "internalVerifierMoodleId" TEXT,
    "gradeStatus" TEXT,
    "sourceUpdatedAt" TIMESTAMPTZ(3),
    "fingerprint" TEXT,
    "moodleUpdatedAt" TIMESTAMPTZ(3),
    "moodleFingerprint" TEXT,
    "deletedAt" TIMESTAMPTZ(3),
    "syncedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Grade_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LearningOutcome" (
    "id" UUID NOT NULL,
    "gradeId" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "code" TEXT NOT NULL,
    "title" TEXT,
    "definition" TEXT,
    "score" TEXT,
    "feedback" TEXT,
    "achieved" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "LearningOutcome_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SyncEvent" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "source" "SyncSource" NOT NULL,
    "module" TEXT NOT NULL,
    "operation" TEXT,
    "recordId" TEXT,
    "status" "IngestStatus" NOT NULL,
    "entityType" TEXT,
    "entityId" UUID,
    "studentId" UUID,
    "message" TEXT,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processedAt" TIMESTAMPTZ(3),

    CONSTRAINT "SyncEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ParkedEvent" (
    "id" UUID NOT NULL,
    "tenantId" TEXT NOT NULL,
    "syncEventId" UUID NOT NULL,
    "awaiting" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ParkedEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Student_tenantId_studentNumber_idx" ON "Student"("tenantId", "studentNumber");

-- CreateIndex
CREATE INDEX "Student_tenantId_email_idx" ON "Student"("tenantId", "email");

-- CreateIndex
CREATE INDEX "Student_tenantId_fullName_id_idx" ON "Student"("tenantId", "fullName", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Student_tenantId_zohoId_key" ON "Student"("tenantId", "zohoId");

-- CreateIndex
CREATE UNIQUE INDEX "Student_tenantId_moodleUserId_key" ON "Student"("tenantId", "moodleUserId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_tenantId_zohoId_key" ON "Teacher"("tenantId", "zohoId");

-- CreateIndex
CREATE UNIQUE INDEX "Teacher_tenantId_moodleUserId_key" ON "Teacher"("tenantId", "moodleUserId");

-- CreateIndex
CREATE UNIQUE INDEX "Program_tenantId_zohoId_key" ON "Program"("tenantId", "zohoId");

-- CreateIndex
CREATE INDEX "Unit_programId_idx" ON "Unit"("programId");

-- CreateIndex
CREATE UNIQUE INDEX "Unit_tenantId_zohoId_key" ON "Unit"("tenantId", "zohoId");

-- CreateIndex
CREATE INDEX "Class_unitId_idx" ON "Class"("unitId");

-- CreateIndex
CREATE INDEX "Class_teacherId_idx" ON "Class"("teacherId");

-- CreateIndex
CREATE INDEX "Class_programId_idx" ON "Class"("programId");

-- CreateIndex
CREATE UNIQUE INDEX "Class_tenantId_zohoId_key" ON "Class"("tenantId", "zohoId");

-- CreateIndex
CREATE UNIQUE INDEX "Class_tenantId_moodleCourseId_key" ON "Class"("tenantId", "moodleCourseId");

-- CreateIndex
CREATE INDEX "Enrollment_classId_idx" ON "Enrollment"("classId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_tenantId_zohoId_key" ON "Enrollment"("tenantId", "zohoId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_tenantId_moodleEnrollmentId_key" ON "Enrollment"("tenantId", "moodleEnrollmentId");

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_studentId_classId_key" ON "Enrollment"("studentId", "classId");

-- CreateIndex
CREATE INDEX "Registration_studentId_idx" ON "Registration"("studentId");

-- CreateIndex
CREATE INDEX "Registration_programId_idx" ON "Registration"("programId");

-- CreateIndex
CREATE UNIQUE INDEX "Registration_tenantId_zohoId_key" ON "Registration"("tenantId", "zohoId");

-- CreateIndex
CREATE INDEX "Payment_studentId_dueDate_idx" ON "Payment"("studentId", "dueDate");

-- CreateIndex
CREATE INDEX "Payment_registrationId_idx" ON "Payment"("registrationId");

-- CreateIndex
CREATE UNIQUE INDEX "Payment_tenantId_zohoId_key" ON "Payment"("tenantId", "zohoId");

-- CreateIndex
CREATE INDEX "StudentRequest_studentId_submittedAt_idx" ON "StudentRequest"("studentId", "submittedAt");

-- CreateIndex
CREATE UNIQUE INDEX "StudentRequest_tenantId_zohoId_key" ON "StudentRequest"("tenantId", "zohoId");

-- CreateIndex
CREATE INDEX "Grade_studentId_idx" ON "Grade"("studentId");

-- CreateIndex
CREATE INDEX "Grade_unitId_idx" ON "Grade"("unitId");

-- CreateIndex
CREATE INDEX "Grade_classId_idx" ON "Grade"("classId");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_tenantId_compositeKey_key" ON "Grade"("tenantId", "compositeKey");

-- CreateIndex
CREATE UNIQUE INDEX "Grade_tenantId_zohoId_key" ON "Grade"("tenantId", "zohoId");

-- CreateIndex
CREATE UNIQUE INDEX "LearningOutcome_gradeId_code_key" ON "LearningOutcome"("gradeId", "code");

-- CreateIndex
CREATE INDEX "SyncEvent_tenantId_receivedAt_idx" ON "SyncEvent"("tenantId", "receivedAt" DESC);

-- CreateIndex
CREATE INDEX "SyncEvent_tenantId_status_receivedAt_idx" ON "SyncEvent"("tenantId", "status", "receivedAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "SyncEvent_tenantId_idempotencyKey_key" ON "SyncEvent"("tenantId", "idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "ParkedEvent_syncEventId_key" ON "ParkedEvent"("syncEventId");

-- CreateIndex
CREATE INDEX "ParkedEvent_tenantId_awaiting_idx" ON "ParkedEvent"("tenantId", "awaiting");

-- CreateIndex
CREATE INDEX "ParkedEvent_tenantId_createdAt_idx" ON "ParkedEvent"("tenantId", "createdAt");

-- AddForeignKey
ALTER TABLE "Student" ADD CONSTRAINT "Student_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Teacher" ADD CONSTRAINT "Teacher_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Program" ADD CONSTRAINT "Program_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Unit" ADD CONSTRAINT "Unit_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Unit" ADD CONSTRAINT "Unit_programId_fkey" FOREIGN KEY ("programId") REFERENCES "Program"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Class" ADD CONSTRAINT "Class_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Class" ADD CONSTRAINT "Class_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Class" ADD CONSTRAINT "Class_programId_fkey" FOREIGN KEY ("programId") REFERENCES "Program"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Class" ADD CONSTRAINT "Class_teacherId_fkey" FOREIGN KEY ("teacherId") REFERENCES "Teacher"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_studentId_fkey" FOREIGN KEY ("studentId") REFERENCES "Student"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_classId_fkey" FOREIGN KEY ("classId") REFERENCES "Class"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Registration" ADD CONSTRAINT "Registration_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Registration" ADD CONSTRAINT "Registration_studentId_fkey" FOREIGN KEY ("studentId") REFERENCES "Student"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Registration" ADD CONSTRAINT "Registration_programId_fkey" FOREIGN KEY ("programId") REFERENCES "Program"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Payment" ADD CONSTRAINT "Payment_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Payment" ADD CONSTRAINT "Payment_studentId_fkey" FOREIGN KEY ("studentId") REFERENCES "Student"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Payment" ADD CONSTRAINT "Payment_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "Registration"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudentRequest" ADD CONSTRAINT "StudentRequest_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudentRequest" ADD CONSTRAINT "StudentRequest_studentId_fkey" FOREIGN KEY ("studentId") REFERENCES "Student"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_studentId_fkey" FOREIGN KEY ("studentId") REFERENCES "Student"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_unitId_fkey" FOREIGN KEY ("unitId") REFERENCES "Unit"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_classId_fkey" FOREIGN KEY ("classId") REFERENCES "Class"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LearningOutcome" ADD CONSTRAINT "LearningOutcome_gradeId_fkey" FOREIGN KEY ("gradeId") REFERENCES "Grade"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SyncEvent" ADD CONSTRAINT "SyncEvent_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ParkedEvent" ADD CONSTRAINT "ParkedEvent_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ParkedEvent" ADD CONSTRAINT "ParkedEvent_syncEventId_fkey" FOREIGN KEY ("syncEventId") REFERENCES "SyncEvent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
